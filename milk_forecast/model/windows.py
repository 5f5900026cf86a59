"""The months the train stage chooses on, backtests and calibrates, from the parameters and
the data (``TrainParams`` says how windows left ``None`` follow the data)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.model.params import TrainParams
from milk_forecast.run_folder.layout import MONTH, SERIES_FILE

DEFAULT_LENGTH = 24  # months of the backtest and of the first selection window by default
MIN_ONE_STEP_HISTORY = 36  # months from history_start to the first one-step forecast
ORDER = ("history_start", "selection_start", "selection_end", "backtest_start", "backtest_end")
# Bounds strictly before the next: the selection ends before the backtest starts, and the
# backtest holds two months or more (the R2 of one month is undefined).
STRICTLY_BEFORE = ("selection_end", "backtest_start")


class WindowError(ValueError):
    """Windows that contradict each other or the data; the message names them."""


def month_range(start: str | pd.Timestamp, end: str | pd.Timestamp) -> pd.DatetimeIndex:
    """Month starts from ``start`` to ``end`` inclusive."""
    return pd.date_range(pd.Timestamp(start), pd.Timestamp(end), freq="MS")


def shift(month: pd.Timestamp, months: int) -> pd.Timestamp:
    return month + pd.DateOffset(months=months)


def months_between(start: pd.Timestamp, end: pd.Timestamp) -> int:
    return (end.year - start.year) * 12 + end.month - start.month


@dataclass(frozen=True)
class Windows:
    """The windows as months: ``selection``, the first selection window (it slides one month
    per month forecast, ``gap`` months before it); ``backtest``, the months of the one-step
    walk-forward and the month after each origin of the per-horizon backtest;
    ``calibration``, the origins whose intervals are scored; ``interval_window``, how many
    past errors size an interval."""

    history_start: pd.Timestamp
    selection: pd.DatetimeIndex
    backtest: pd.DatetimeIndex
    calibration: pd.DatetimeIndex
    interval_window: int
    last: pd.Timestamp

    @property
    def length(self) -> int:
        return len(self.selection)

    @property
    def gap(self) -> int:
        return months_between(self.selection[-1], self.backtest[0])

    @property
    def forecast(self) -> pd.Timestamp:
        return shift(self.last, 1)

    @property
    def origins(self) -> pd.DatetimeIndex:
        """Origins of the per-horizon backtest: the month before each backtest month."""
        return month_range(shift(self.backtest[0], -1), shift(self.backtest[-1], -1))

    @property
    def chosen(self) -> pd.DatetimeIndex:
        """Every month the one-step adaptive choice is made for: from ``interval_window``
        months before the first calibrated or backtest month, to the next month."""
        first = min(shift(self.calibration[0], 1), self.backtest[0])
        return month_range(shift(first, -self.interval_window), self.forecast)


def resolve(params: TrainParams, monthly: pd.DataFrame) -> Windows:
    """The windows as months, defaults filled from the data, checked against each other
    and against the data."""
    prices = monthly.loc[monthly[PRICE_COLUMN].notna(), MONTH]
    first, last = prices.min(), prices.max()
    given = {name: getattr(params, name) for name in ORDER}
    ts = {name: pd.Timestamp(value) for name, value in given.items() if value is not None}
    ts.setdefault("backtest_end", last)
    ts.setdefault("backtest_start", shift(ts["backtest_end"], 1 - DEFAULT_LENGTH))
    ts.setdefault("selection_end", shift(ts["backtest_start"], -1))
    ts.setdefault("selection_start", shift(ts["selection_end"], 1 - DEFAULT_LENGTH))
    for before, after in itertools.pairwise(ORDER):
        if ts[before] > ts[after] or (before in STRICTLY_BEFORE and ts[before] == ts[after]):
            computed = [name for name, value in given.items() if value is None]
            note = f" (computed from the data: {', '.join(computed)})" if computed else ""
            raise WindowError(
                f"windows: {before}={ts[before]:%Y-%m} must come before {after}={ts[after]:%Y-%m}"
                f"{note}"
            )
    if ts["backtest_end"] > last:
        raise WindowError(
            f"{SERIES_FILE}: the price ends {last:%Y-%m}, before backtest_end="
            f"{ts['backtest_end']:%Y-%m}; pass windows inside {first:%Y-%m}..{last:%Y-%m}"
        )
    if ts["history_start"] < first:
        raise WindowError(
            f"{SERIES_FILE}: the price starts {first:%Y-%m}, after history_start="
            f"{ts['history_start']:%Y-%m}"
        )
    last_origin = shift(ts["backtest_end"], -1)
    w = Windows(
        ts["history_start"],
        month_range(ts["selection_start"], ts["selection_end"]),
        month_range(ts["backtest_start"], ts["backtest_end"]),
        month_range(shift(last_origin, 1 - params.calibration_months), last_origin),
        params.interval_window,
        last,
    )
    first = shift(w.chosen[0], -w.gap - w.length + 1)
    if months_between(w.history_start, first) < MIN_ONE_STEP_HISTORY:
        raise WindowError(
            f"windows: the first one-step forecast needed ({first:%Y-%m}: the selection "
            f"window of the first of the {w.interval_window} months before the calibration "
            f"and backtest windows) leaves less than {MIN_ONE_STEP_HISTORY} months after "
            f"history_start={w.history_start:%Y-%m}"
        )
    return w
