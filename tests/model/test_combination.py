from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_monthly, without_rain_after

from milk_forecast.model import combination as cb
from milk_forecast.model import horizon as hz
from milk_forecast.run_folder.layout import MONTH
from milk_forecast.run_folder.predictions import HORIZON, PREDICTED

CONFIG = hz.HorizonConfig(history_start="1990-01", weight_window=12)


@pytest.fixture(scope="module")
def data() -> hz.SeriesData:
    return hz.series_data(without_rain_after(synthetic_monthly(), "2020-02"))


def test_every_forecast_at_every_horizon_is_made_from_the_months_up_to_its_origin(data):
    seen: list[pd.Timestamp] = []

    def recording(cut: hz.SeriesData, config: hz.HorizonConfig) -> np.ndarray:
        # what a model may read: months up to the origin, rain up to the origin minus the lag
        assert len(cut.months) == len(cut.log_price) == len(cut.rain_total)
        assert cut.months[cut.rain_end] <= cut.months[-1] - pd.DateOffset(months=2)
        seen.append(cut.months[-1])
        # each candidate forecasts the last price it saw: the combination of an origin
        # then equals the price of that origin at every horizon, and nothing later
        return np.full((len(config.candidates), config.horizons), cut.log_price[-1])

    first, last = data.position("2018-01"), data.position("2019-06")
    tr = cb.track(data, first, last, CONFIG, fit=recording)
    assert seen == list(data.months[tr.runs.origins])  # one fit per origin, in time order
    table = cb.backtest_rows(tr, range(first, last + 1), range(1, 13))
    assert set(table[HORIZON]) == set(range(1, 13))
    origin_price = np.exp(data.log_price[[data.position(o) for o in table[cb.ORIGIN]]])
    np.testing.assert_allclose(table[PREDICTED], origin_price, rtol=1e-12)


def test_a_forecast_on_data_cut_at_its_origin_equals_the_backtest_row(data):
    origin = data.position("2019-04")
    full = cb.track(data, origin, origin + 3, CONFIG)
    cut = data.up_to(origin, cb.rain_lag(data))
    alone = cb.track(cut, origin, origin, CONFIG)
    for h in range(1, 13):
        assert alone.log_forecast(origin, h) == pytest.approx(
            full.log_forecast(origin, h), abs=1e-12
        )


def test_the_combination_weighs_candidates_by_their_errors_at_that_horizon(data):
    config = hz.HorizonConfig(
        history_start="1990-01",
        candidates=(hz.DriftSpec(), hz.RidgeSpec(("price",), None)),
        weight_window=12,
    )
    runs = cb.run_candidates(data, data.position("2015-01"), data.position("2018-12"), config)
    origin, h = data.position("2018-12"), 3
    comb = cb.combine(runs, origin, h, config)
    errors = runs.errors()[:, runs.row(origin - h - 11) : runs.row(origin - h) + 1, h - 1]
    mse = (errors**2).mean(axis=1)
    np.testing.assert_allclose(
        comb.weights, (mse.min() / mse) ** 2 / ((mse.min() / mse) ** 2).sum()
    )
    forecasts = runs.candidates[:, runs.row(origin), h - 1]
    assert comb.log_forecast == pytest.approx(comb.weights @ forecasts)
    assert comb.window == (origin - h - 11, origin - h)


def test_a_candidate_without_a_forecast_gets_no_weight(data):
    def half_missing(cut: hz.SeriesData, config: hz.HorizonConfig) -> np.ndarray:
        paths = hz.fit_candidates(cut, config)
        paths[0] = np.nan
        return paths

    runs = cb.run_candidates(
        data, data.position("2016-01"), data.position("2018-12"), CONFIG, half_missing
    )
    comb = cb.combine(runs, data.position("2018-12"), 6, CONFIG)
    assert comb.weights[0] == 0 and comb.weights.sum() == pytest.approx(1)


def test_too_little_history_is_named(data):
    with pytest.raises(hz.HorizonError, match=r"more month\(s\) of price before 1988-01"):
        cb.track(data, data.position("1989-06"), data.position("1995-01"), CONFIG)
    with pytest.raises(hz.HorizonError, match=r"\(1991-03\) leaves fewer than 60 months after"):
        cb.track(data, data.position("1994-01"), data.position("1995-01"), CONFIG)


def test_the_path_says_which_model_and_how_rain_was_held(data):
    tr = cb.track(data, data.last, data.last, CONFIG)
    path = cb.path_rows(tr, data.last, range(1, 13))
    assert path[MONTH].iloc[0] == pd.Timestamp("2020-05-01") and list(path[HORIZON]) == list(
        range(1, 13)
    )
    assert path[cb.MODEL].str.startswith(cb.COMBINED).all()
    assert (
        path[cb.REASON].str.contains("rainfall ends 2020-02, 2 month\\(s\\) before the price").all()
    )
    assert path[cb.REASON].str.contains("hold the last complete 12-month sum").all()
    assert np.isfinite(path[PREDICTED]).all()
