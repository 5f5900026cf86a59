"""The prototype's recipe, kept to compare with, on the table it used (``features_monthly``):
the k best of the 141 lag features by mutual information, polynomial, ridge, chosen by a
630-point grid search (R2)."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
from sklearn.feature_selection import SelectKBest, mutual_info_regression
from sklearn.linear_model import Ridge
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from milk_forecast.data.columns import PRICE_COLUMN, SPLIT, TEST
from milk_forecast.data.features import feature_columns
from milk_forecast.run_folder.layout import MONTH

PROTOTYPE = "prototype_poly_ridge"
PROTOTYPE_GRID = {
    "select__k": [3, 4, 5, 6, 7, 10],
    "poly__degree": [1, 2, 3, 5, 7],
    "model__alpha": [1, 0.5, 0.2, 0.1, 0.05, 0.02, 0.01],
}


class CachedMutualInfo:
    """``mutual_info_regression`` with a fixed ``random_state``, computed once per distinct data.

    In a grid search every candidate of a fold sees the same scaled training data, so the
    mutual information is computed once per fold instead of once per fit. Deep copies
    (sklearn's ``clone``) share the cache.
    """

    def __init__(self, random_state: int = 42) -> None:
        self.random_state = random_state
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        x, y = np.ascontiguousarray(x, dtype="float64"), np.ascontiguousarray(y, dtype="float64")
        key = hashlib.sha1(str(x.shape).encode() + x.tobytes() + y.tobytes()).hexdigest()
        if key not in self.cache:
            self.cache[key] = mutual_info_regression(x, y, random_state=self.random_state)
        return self.cache[key]

    def __deepcopy__(self, _memo: dict) -> CachedMutualInfo:
        return self


def prototype_search(
    random_state: int = 42, cv: object = 3, grid: dict | None = None
) -> GridSearchCV:
    """The prototype's grid search (scoring R2) over its pipeline: scale, keep the k best
    features by mutual information (cached per fold), polynomial, ridge."""
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("select", SelectKBest(score_func=CachedMutualInfo(random_state))),
            ("poly", PolynomialFeatures()),
            ("model", Ridge()),
        ]
    )
    return GridSearchCV(pipeline, grid or PROTOTYPE_GRID, cv=cv, scoring="r2", n_jobs=1)


def prototype_shuffled(features: pd.DataFrame, random_state: int) -> pd.Series:
    """The prototype's grid search fit on the split's train rows, predicting its test rows."""
    columns = feature_columns(features)
    train, test = features[features[SPLIT] != TEST], features[features[SPLIT] == TEST]
    search = prototype_search(random_state, KFold(3, shuffle=True, random_state=random_state))
    search.fit(train[columns].to_numpy(), train[PRICE_COLUMN].to_numpy())
    return pd.Series(search.predict(test[columns].to_numpy()), index=pd.DatetimeIndex(test[MONTH]))
