from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.model import backtest as bt
from milk_forecast.model import models


def monthly_frame(start: str = "1995-01", end: str = "2005-12") -> pd.DataFrame:
    months = pd.date_range(start, end, freq="MS")
    rng = np.random.default_rng(3)
    change = 0.03 * np.sin(2 * np.pi * months.month / 12) + 0.01 * rng.standard_normal(len(months))
    frame = pd.DataFrame({"month": months, PRICE_COLUMN: 50 * np.exp(np.cumsum(change))})
    for column in RAIN_COLUMNS:
        frame[column] = rng.gamma(2.0, 20.0, len(months))
    return frame


def test_walk_forward_hands_only_months_before_the_forecast_month():
    frame = monthly_frame()
    seen = {}

    def recorder(history: pd.DataFrame, month: pd.Timestamp) -> dict[str, float]:
        seen[month] = history["month"].max()
        return {"last_price": float(history[PRICE_COLUMN].iloc[-1])}

    months = bt.month_range("2004-01", "2004-12")
    result = bt.walk_forward(frame, months, recorder)
    assert all(seen[m] == m - pd.DateOffset(months=1) for m in months)
    expected = frame.set_index("month")[PRICE_COLUMN].shift(1).reindex(months)
    np.testing.assert_allclose(result["last_price"].to_numpy(), expected.to_numpy())


def test_candidate_forecasts_do_not_change_when_the_future_changes():
    frame = monthly_frame()
    specs = models.candidate_specs((("price",), ("price", "rain")), (2.0, None), 1.0)
    forecaster = bt.candidate_forecaster(specs, pd.Timestamp("1996-01"))
    months = bt.month_range("2004-01", "2004-12")
    before = bt.walk_forward(frame, months, forecaster)
    future = frame["month"] >= "2004-07-01"
    changed = frame.copy()
    changed.loc[future, [PRICE_COLUMN, *RAIN_COLUMNS]] *= 5  # a future that would give itself away
    after = bt.walk_forward(changed, months, forecaster)
    pd.testing.assert_frame_equal(before.loc[:"2004-07-01"], after.loc[:"2004-07-01"])
    assert not np.allclose(before.loc["2004-08-01":], after.loc["2004-08-01":])


def test_candidate_forecaster_refuses_a_history_with_a_gap():
    frame = monthly_frame()
    forecaster = bt.candidate_forecaster(
        [models.CandidateSpec(("price",), None, 1.0)], pd.Timestamp("1996-01")
    )
    with pytest.raises(bt.BacktestError, match="2004-03"):
        forecaster(frame[frame["month"] < "2004-01-01"], pd.Timestamp("2004-03-01"))


def candidates_table() -> tuple[pd.DataFrame, pd.Series]:
    months = bt.month_range("2010-01", "2010-06")
    actual = pd.Series(100.0, index=months)
    table = pd.DataFrame(
        {"a": [100.0, 101, 100, 99, 120, 100], "b": [110.0, 90, 110, 90, 100, 101]}, index=months
    )
    return table, actual


def test_adaptive_choice_uses_only_the_window_before_the_month():
    table, actual = candidates_table()
    # window for 2010-04 with length 3, gap 1: 2010-01..03, where "a" is far better
    choice = bt.adaptive_choice(table, actual, pd.DatetimeIndex(["2010-04-01"]), 3, 1, ["a", "b"])
    assert choice.at[pd.Timestamp("2010-04-01"), "candidate"] == "a"
    # for 2010-06 the window 2010-03..05 holds the bad month of "a" (120): "b" wins
    choice = bt.adaptive_choice(table, actual, pd.DatetimeIndex(["2010-06-01"]), 3, 1, ["a", "b"])
    assert choice.at[pd.Timestamp("2010-06-01"), "predicted"] == 101.0


def test_adaptive_choice_skips_a_candidate_that_cannot_forecast_the_month():
    table, actual = candidates_table()
    table.loc["2010-04-01", "a"] = np.nan
    choice = bt.adaptive_choice(table, actual, pd.DatetimeIndex(["2010-04-01"]), 3, 1, ["a", "b"])
    assert choice.iloc[0]["candidate"] == "b"
    with pytest.raises(bt.BacktestError, match="2010-04"):
        bt.adaptive_choice(table, actual, pd.DatetimeIndex(["2010-04-01"]), 3, 1, ["a"])


def test_adaptive_choice_needs_forecasts_for_the_whole_window():
    table, actual = candidates_table()
    with pytest.raises(bt.BacktestError, match="2009-12"):
        bt.adaptive_choice(table, actual, pd.DatetimeIndex(["2010-02-01"]), 2, 1, ["a", "b"])


def errors_by_target() -> pd.Series:
    months = pd.date_range("2020-01-01", periods=8, freq="MS")
    return pd.Series([0.01, -0.02, 0.03, -0.04, 0.05, -0.06, 0.07, -0.08], index=months)


def test_half_widths_are_quantiles_of_the_absolute_errors_known_at_the_origin():
    errors = errors_by_target()
    month = pd.DatetimeIndex(["2020-06-01"])
    # one month ahead, origin May: the 3 errors of Mar..May (0.03, 0.04, 0.05)
    widths = bt.time_ordered_half_widths(errors, 1, 3, [0.5, 0.9], month)
    assert widths.loc[month[0]].tolist() == pytest.approx([0.04, 0.048])
    # three months ahead, origin March: Jan..Mar (0.01, 0.02, 0.03)
    widths = bt.time_ordered_half_widths(errors, 3, 3, [0.5], month)
    assert widths.loc[month[0], 0.5] == pytest.approx(0.02)


def test_half_widths_use_no_error_after_the_origin():
    errors = errors_by_target()
    months = pd.date_range("2020-05-01", periods=4, freq="MS")  # origins Feb..May at h=3
    before = bt.time_ordered_half_widths(errors, 3, 2, [0.8], months)
    later = errors.copy()
    later[later.index > pd.Timestamp("2020-03-01")] = 9.0  # after the origin of the first two
    after = bt.time_ordered_half_widths(later, 3, 2, [0.8], months)
    assert after.iloc[:2].equals(before.iloc[:2])
    assert (after.iloc[2:] > before.iloc[2:]).all().all()  # the origin's own month counts


def test_half_widths_need_a_complete_window():
    errors = errors_by_target()
    errors.iloc[2] = np.nan
    with pytest.raises(bt.BacktestError, match=r"2020-06.*targets up to 2020-05, 1 of them"):
        bt.time_ordered_half_widths(errors, 1, 3, [0.8], pd.DatetimeIndex(["2020-06-01"]))
