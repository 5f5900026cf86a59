from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from series_factory import synthetic_monthly, without_rain_after

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model import horizon as hz
from milk_forecast.run_folder.layout import MONTH

SEASON = np.array([0.0, 0.02, 0.04, 0.03, 0.02, 0.0, -0.01, -0.01, -0.05, -0.01, -0.01, 0.0])


def periodic_data(years: int = 12, noise: float = 0.0) -> hz.SeriesData:
    """A log price whose monthly change is a calendar-month effect plus drift (and noise)."""
    months = pd.date_range("2000-01", periods=12 * years, freq="MS")
    rng = np.random.default_rng(2)
    change = SEASON[months.month - 1] + 0.002 + noise * rng.standard_normal(len(months))
    frame = pd.DataFrame({MONTH: months, PRICE_COLUMN: 100 * np.exp(np.cumsum(change))})
    for column in RAIN_COLUMNS:
        frame[column] = 10.0
    return hz.series_data(frame)


def test_series_data_keeps_the_observed_price_and_the_complete_rainfall():
    frame = without_rain_after(synthetic_monthly("2000-01", "2005-12"), "2005-09")
    frame.loc[frame[MONTH] < pd.Timestamp("2000-03-01"), PRICE_COLUMN] = np.nan
    frame.loc[frame[MONTH] == pd.Timestamp("2003-01-01"), RAIN_COLUMNS[0]] = np.nan
    data = hz.series_data(frame)
    assert data.months[0] == pd.Timestamp("2000-03-01") and data.months[-1] == pd.Timestamp(
        "2005-12-01"
    )
    assert data.months[data.rain_end] == pd.Timestamp("2005-09-01")
    assert np.isnan(data.rain_total[data.position("2003-01")])  # one region missing
    cut = data.up_to(data.position("2005-10"), rain_lag=3)
    assert len(cut.months) == len(cut.log_price) == data.position("2005-10") + 1
    assert cut.months[cut.rain_end] == pd.Timestamp("2005-07-01")
    assert np.isnan(cut.rain_total[cut.rain_end + 1 :]).all()


def test_series_data_refuses_a_gap_in_the_price():
    frame = synthetic_monthly("2000-01", "2003-12")
    frame.loc[10, PRICE_COLUMN] = np.nan
    with pytest.raises(hz.HorizonError, match="missing or non-positive price"):
        hz.series_data(frame)


def test_every_candidate_continues_a_seasonal_series():
    data = periodic_data(noise=0.002)
    origin = data.position("2009-06")
    expected = data.log_price[origin] + np.cumsum(SEASON[np.arange(6, 18) % 12] + 0.002)
    config = hz.HorizonConfig(history_start="2000-01")
    paths = hz.fit_candidates(data.up_to(origin), config)
    for name, path in zip(config.candidate_names, paths, strict=True):
        np.testing.assert_allclose(path, expected, atol=0.03, err_msg=name)


def test_baselines_look_back_one_month_and_one_year():
    data = periodic_data(4)
    paths = hz.baseline_paths(data, 0, 14)
    lp = data.log_price
    assert (paths[hz.PERSISTENCE] == lp[-1]).all()
    assert paths[hz.SEASONAL_NAIVE][0] == lp[-12] and paths[hz.SEASONAL_NAIVE][12] == lp[-12]
    np.testing.assert_allclose(
        paths[hz.SEASONAL_DRIFT][:12] - lp[-1], np.cumsum(SEASON[:12] + 0.002)
    )


def test_rain_not_observed_is_held_at_the_last_complete_twelve_months():
    data = hz.series_data(without_rain_after(synthetic_monthly("1995-01", "2010-12"), "2010-08"))
    held = hz.held_rain(data)
    assert held == pytest.approx(
        np.log1p(data.rain_total[data.rain_end - 11 : data.rain_end + 1].sum())
    )
    inputs = hz.rain_inputs(data)
    assert np.isnan(inputs[data.rain_end + 2 :]).all()  # windows reaching past the rain
    specs = [hz.RidgeSpec(("rain",), None), hz.RidgeSpec(("price", "rain", "acc3"), 2.0)]
    paths = hz.ridge_paths(data, specs, data.start("1995-01"), 12)
    assert np.isfinite(paths).all()


def test_without_rainfall_the_rain_candidates_give_no_forecast():
    frame = synthetic_monthly("1990-01", "2005-12")
    frame[RAIN_COLUMNS] = np.nan
    data = hz.series_data(frame)
    specs = [hz.RidgeSpec(("rain",), None), hz.RidgeSpec(("price",), None)]
    paths = hz.ridge_paths(data, specs, 0, 12)
    assert np.isnan(paths[0]).all() and np.isfinite(paths[1]).all()


def test_config_refuses_unknown_inputs_and_duplicates():
    with pytest.raises(hz.HorizonError, match="unknown input"):
        hz.HorizonConfig(candidates=(hz.RidgeSpec(("wind",), None),))
    with pytest.raises(hz.HorizonError, match="duplicated"):
        hz.HorizonConfig(candidates=(hz.DriftSpec(), hz.DriftSpec()))
