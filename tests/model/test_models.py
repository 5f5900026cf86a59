from __future__ import annotations

import copy
from functools import partial

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_selection import mutual_info_regression
from sklearn.model_selection import GridSearchCV

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model import models

SEASON = np.array([0.0, 0.02, 0.04, 0.03, 0.02, 0.0, -0.01, -0.01, -0.05, -0.01, -0.01, 0.0])


def monthly_frame(n_months: int = 60, noise: float = 0.0) -> pd.DataFrame:
    """A price whose log change is exactly a calendar-month effect (plus optional noise)."""
    months = pd.date_range("2000-01", periods=n_months, freq="MS")
    rng = np.random.default_rng(0)
    change = SEASON[months.month - 1] + noise * rng.standard_normal(n_months)
    frame = pd.DataFrame({"month": months, PRICE_COLUMN: 100 * np.exp(np.cumsum(change))})
    for i, column in enumerate(RAIN_COLUMNS):
        frame[column] = float(i + 1)
    return frame


def test_persistence_and_seasonal_naive_look_back_one_and_twelve_months():
    price = models.price_series(monthly_frame(30))
    months = pd.DatetimeIndex(["2001-06-01", "2002-01-01"])
    assert models.persistence(price, months).tolist() == [price["2001-05-01"], price["2001-12-01"]]
    assert models.seasonal_naive(price, months).tolist() == [
        price["2000-06-01"],
        price["2001-01-01"],
    ]


def test_design_inputs_of_a_month_never_read_that_month():
    frame = monthly_frame(40)
    changed = frame.copy()
    changed.loc[30, [PRICE_COLUMN, *RAIN_COLUMNS]] *= 3
    before, after = models.build_design(frame), models.build_design(changed)
    for name in models.INPUT_COLUMNS:
        np.testing.assert_array_equal(before.inputs[name][:31], after.inputs[name][:31])
    assert before.target[30] != after.target[30]  # the target itself does read it


def test_design_values_by_hand():
    frame = monthly_frame(30)
    design = models.build_design(frame)
    log_price = np.log(frame[PRICE_COLUMN].to_numpy())
    assert design.target[5] == pytest.approx(log_price[5] - log_price[4])
    assert design.inputs["price"][20] == pytest.approx(log_price[19] - log_price[7])
    assert design.inputs["rain"][20] == pytest.approx(np.log1p(12 * sum(range(1, 9))))
    assert np.isnan(design.inputs["rain"][11]) and np.isfinite(design.inputs["rain"][12])
    assert design.calendar[20].tolist() == [1.0 if m == 9 else 0.0 for m in range(1, 13)]


def test_fit_candidate_recovers_a_pure_calendar_effect():
    design = models.build_design(monthly_frame(72))
    spec = models.CandidateSpec(("price",), half_life_years=3.0, alpha=1.0)
    train = np.arange(72) < 60
    fitted = models.fit_candidate(design, spec, train, design.months[60])
    predicted = fitted.predict_log_change(design, slice(60, 72))
    np.testing.assert_allclose(predicted, SEASON[design.months[60:].month - 1], atol=1e-6)


def test_fit_candidate_refuses_too_few_months():
    design = models.build_design(monthly_frame(40))
    spec = models.CandidateSpec(("rain",), None, 1.0)
    with pytest.raises(models.ModelError, match="usable training month"):
        models.fit_candidate(design, spec, np.arange(40) < 20, design.months[20])


def test_candidate_specs_reject_unknown_inputs():
    with pytest.raises(models.ModelError, match="'wind'"):
        models.candidate_specs((("price",), ("wind",)), (None,), 1.0)


def tiny_regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 5))
    return x, 2 * x[:, 0] - x[:, 3] ** 2 + 0.1 * rng.standard_normal(30)


def test_cached_mutual_info_selects_like_the_uncached_pipeline():
    x, y = tiny_regression()
    grid = {"select__k": [1, 2, 3], "poly__degree": [1, 2], "model__alpha": [1.0, 0.1]}
    cached = models.prototype_search(random_state=0, cv=3, grid=grid).fit(x, y)
    plain = GridSearchCV(
        models.prototype_pipeline(partial(mutual_info_regression, random_state=0)),
        grid,
        cv=3,
        scoring="r2",
    ).fit(x, y)
    assert cached.best_params_ == plain.best_params_
    np.testing.assert_allclose(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    score_func = cached.best_estimator_.named_steps["select"].score_func
    assert len(score_func.cache) == 4  # once per fold and once for the refit, not per grid point


def test_cached_mutual_info_is_shared_by_copies_and_keyed_on_data():
    x, y = tiny_regression()
    score = models.CachedMutualInfo(random_state=0)
    assert copy.deepcopy(score) is score
    first = score(x, y)
    np.testing.assert_array_equal(first, score(x.copy(), y.copy()))
    score(x[:20], y[:20])
    assert len(score.cache) == 2
