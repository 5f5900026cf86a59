from __future__ import annotations

import copy
from functools import partial

import numpy as np
from sklearn.base import clone
from sklearn.feature_selection import mutual_info_regression
from sklearn.model_selection import GridSearchCV

from milk_forecast.model import prototype


def tiny_regression() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((30, 5))
    return x, 2 * x[:, 0] - x[:, 3] ** 2 + 0.1 * rng.standard_normal(30)


def test_cached_mutual_info_selects_like_the_uncached_pipeline():
    x, y = tiny_regression()
    grid = {"select__k": [1, 2, 3], "poly__degree": [1, 2], "model__alpha": [1.0, 0.1]}
    cached = prototype.prototype_search(random_state=0, cv=3, grid=grid).fit(x, y)
    uncached = clone(cached.estimator).set_params(
        select__score_func=partial(mutual_info_regression, random_state=0)
    )
    plain = GridSearchCV(uncached, grid, cv=3, scoring="r2").fit(x, y)
    assert cached.best_params_ == plain.best_params_
    np.testing.assert_allclose(
        cached.cv_results_["mean_test_score"], plain.cv_results_["mean_test_score"]
    )
    score_func = cached.best_estimator_.named_steps["select"].score_func
    assert len(score_func.cache) == 4  # once per fold and once for the refit, not per grid point


def test_cached_mutual_info_is_shared_by_copies_and_keyed_on_data():
    x, y = tiny_regression()
    score = prototype.CachedMutualInfo(random_state=0)
    assert copy.deepcopy(score) is score
    first = score(x, y)
    np.testing.assert_array_equal(first, score(x.copy(), y.copy()))
    score(x[:20], y[:20])
    assert len(score.cache) == 2
