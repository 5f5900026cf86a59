from __future__ import annotations

import pandas as pd
import pytest
from series_factory import synthetic_monthly

from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.model import windows
from milk_forecast.model.params import TrainParams
from milk_forecast.parameters import ParameterError
from milk_forecast.run_folder.layout import MONTH


def first_last(index: pd.DatetimeIndex) -> tuple[str, str]:
    return f"{index[0]:%Y-%m}", f"{index[-1]:%Y-%m}"


def test_windows_follow_the_last_observed_price():
    monthly = synthetic_monthly(end="2019-10")
    monthly = pd.concat([monthly, pd.DataFrame({MONTH: [pd.Timestamp("2019-11-01")]})])
    w = windows.resolve(TrainParams(), monthly)  # a trailing month without a price is ignored
    assert first_last(w.backtest) == ("2017-11", "2019-10")
    assert first_last(w.selection) == ("2015-11", "2017-10")
    assert first_last(w.origins) == ("2017-10", "2019-09")
    assert first_last(w.calibration) == ("2013-07", "2019-09") and len(w.calibration) == 75
    assert w.gap == 1 and w.forecast == pd.Timestamp("2019-11-01")
    # the adaptive choice starts early enough to size the first calibrated interval
    assert first_last(w.chosen) == ("2010-08", "2019-11")


def test_fixed_windows_stay_possible():
    params = TrainParams(
        selection_start="2015-01", selection_end="2016-12", backtest_start="2017-01",
        backtest_end="2018-12", calibration_months=30, interval_window=24,
    )  # fmt: skip
    w = windows.resolve(params, synthetic_monthly())
    assert first_last(w.backtest) == ("2017-01", "2018-12")
    assert first_last(w.selection) == ("2015-01", "2016-12")
    assert first_last(w.calibration) == ("2016-06", "2018-11")
    assert w.last == pd.Timestamp("2020-04-01")
    assert first_last(w.chosen) == ("2014-07", "2020-05")


def test_a_given_backtest_end_moves_the_default_windows_with_it():
    w = windows.resolve(TrainParams(backtest_end="2019-06"), synthetic_monthly())
    assert first_last(w.backtest) == ("2017-07", "2019-06")
    assert first_last(w.selection) == ("2015-07", "2017-06")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"backtest_end": "2020-08"}, "price ends 2020-04, before backtest_end=2020-08"),
        (
            {"selection_end": "2018-05"},
            "selection_end=2018-05 must come before backtest_start=2018-05 "
            r"\(computed from the data: selection_start, backtest_start, backtest_end\)",
        ),
        ({"history_start": "1985-01"}, "price starts 1988-01, after history_start=1985-01"),
    ],
)
def test_windows_contradicting_each_other_or_the_data_are_named(params, message):
    with pytest.raises(windows.WindowError, match=message):
        windows.resolve(TrainParams(**params), synthetic_monthly())


def test_a_window_month_must_be_a_month_or_none():
    with pytest.raises(
        ParameterError, match="'backtest_end': '2020-13' is not a month written YYYY-MM, or None"
    ):
        TrainParams(backtest_end="2020-13")
    assert TrainParams(backtest_end=None).backtest_end is None


def test_the_price_column_decides_the_last_month():
    monthly = synthetic_monthly()
    monthly.loc[monthly[MONTH] > pd.Timestamp("2019-12-01"), PRICE_COLUMN] = float("nan")
    assert windows.resolve(TrainParams(), monthly).last == pd.Timestamp("2019-12-01")
