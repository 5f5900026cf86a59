from __future__ import annotations

import numpy as np
from series_factory import SEASON, periodic_history

from milk_forecast.model.candidates import (
    Persistence,
    SeasonalDrift,
    SeasonalNaive,
    path_candidates,
)


def test_every_path_candidate_continues_a_seasonal_series():
    history = periodic_history(noise=0.002)
    origin = history.positions(["2009-06"])[0]
    expected = history.log_price[origin] + np.cumsum(SEASON[np.arange(6, 18) % 12] + 0.002)
    candidates = path_candidates()
    assert len(candidates) == 27 == len({c.name for c in candidates})
    for candidate in candidates:
        path = candidate.clone().fit(history.up_to(origin)).predict(12)
        np.testing.assert_allclose(path, expected, atol=0.03, err_msg=candidate.name)


def test_the_baselines_look_back_one_month_and_one_year():
    history = periodic_history(4)
    lp = history.log_price
    assert (Persistence().fit(history).predict(14) == lp[-1]).all()
    naive = SeasonalNaive().fit(history).predict(14)
    assert naive[0] == lp[-12] and naive[12] == lp[-12] and naive[11] == lp[-1]
    drift = SeasonalDrift().fit(history).predict(12)
    np.testing.assert_allclose(drift - lp[-1], np.cumsum(SEASON[:12] + 0.002))


def test_too_short_a_history_gives_no_forecast():
    history = periodic_history(5)
    short = history.up_to(47)  # 48 months: too few yearly changes for the autoregressions
    for candidate in path_candidates()[21:26]:
        assert np.isnan(candidate.clone().fit(short).predict(12)).all(), candidate.name
    assert np.isfinite(path_candidates()[26].clone().fit(short).predict(12)).all()
