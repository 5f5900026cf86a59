"""What every forecaster learns from: the monthly series up to one month, and its cuts.

Rainfall, published late, can end (``rain_end``) before the price. ``up_to(origin,
rain_lag)`` is what a forecaster fitted at an earlier origin would have seen. Every cut of
one series shares its ``Memo``, so that ``forecaster.walk`` makes each forecast once."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_TOTAL_COLUMN
from milk_forecast.run_folder.layout import MONTH

SEASON = 12  # months in a year
MONTHLY = ("months", "price", "log_price", "calendar")  # the arrays ``up_to`` cuts as they are


class HistoryError(ValueError):
    """A series table a history cannot be made of, or a month outside it."""


class Memo:
    """The forecasts made from the cuts of one series: per (forecaster key, path length), the
    path from each origin and the rainfall end of the cut it was made from (-2: none yet)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.tables: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def table(self, key: tuple, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        if key not in self.tables:
            self.tables[key] = np.full((self.size, horizon), np.nan), np.full(self.size, -2)
        return self.tables[key]


@dataclass(frozen=True, eq=False, repr=False)
class History:
    """Arrays indexed by position (0: the first month); ``calendar`` is the month 0..11."""

    months: pd.DatetimeIndex
    price: np.ndarray
    log_price: np.ndarray
    rain_total: np.ndarray
    calendar: np.ndarray
    rain_end: int  # position of the last month with rainfall (-1: none)
    start: int  # the first month forecasters learn from (history_start); earlier: lags only
    memo: Memo

    @classmethod
    def from_table(cls, table: pd.DataFrame, history_start: str | pd.Timestamp) -> History:
        """From the series table (``price_rain_monthly.parquet``); learning from ``history_start``."""
        months = pd.DatetimeIndex(table[MONTH])
        if months.empty or not months.equals(pd.date_range(months[0], months[-1], freq="MS")):
            raise HistoryError(f"{MONTH}: months are not contiguous month starts")
        price = table[PRICE_COLUMN].to_numpy(dtype="float64")
        if not (price > 0).all():
            raise HistoryError(f"{PRICE_COLUMN}: a missing or non-positive price inside the series")
        rain = table[RAIN_TOTAL_COLUMN].to_numpy(dtype="float64")
        observed = np.flatnonzero(np.isfinite(rain))
        return cls(
            months,
            price,
            np.log(price),
            rain,
            np.asarray(months.month) - 1,
            int(observed[-1]) if len(observed) else -1,
            int(months.searchsorted(pd.Timestamp(history_start))),
            Memo(len(months)),
        )

    @property
    def last(self) -> int:
        return len(self.months) - 1

    @property
    def rain_lag(self) -> int:
        """Months between the last rainfall and the last price (0 without rainfall)."""
        return self.last - self.rain_end if self.rain_end >= 0 else 0

    def up_to(self, origin: int, rain_lag: int = 0) -> History:
        """Months ``0..origin``; rainfall up to ``origin - rain_lag`` at most."""
        rain_end = int(self.cut_rain_ends(origin, rain_lag))
        rain = self.rain_total[: origin + 1].copy()
        rain[rain_end + 1 :] = np.nan
        cut = {name: getattr(self, name)[: origin + 1] for name in MONTHLY}
        return replace(self, **cut, rain_total=rain, rain_end=rain_end)

    def cut_rain_ends(self, origins: int | np.ndarray, rain_lag: int = 0) -> np.ndarray:
        """The last rainfall position ``up_to(origin, rain_lag)`` keeps, per origin (-1: none)."""
        return np.maximum(np.minimum(self.rain_end, np.asarray(origins) - rain_lag), -1)

    def month_at(self, position: int) -> pd.Timestamp:
        """The month at ``position``, also before or after the series."""
        return self.months[0] + pd.DateOffset(months=int(position))

    def months_at(self, positions: np.ndarray) -> pd.DatetimeIndex:
        """The months at ``positions`` (>= 0), also after the series."""
        first = np.datetime64(self.months[0], "M")  # month arithmetic, no calendar built
        return pd.DatetimeIndex((first + np.asarray(positions)).astype(self.months.dtype))

    def price_by_month(self) -> pd.Series:
        return pd.Series(self.price, index=self.months)

    def prices_at(self, positions: np.ndarray) -> np.ndarray:
        """The observed price at ``positions`` (>= 0); NaN after the series."""
        known = positions <= self.last
        return np.where(known, self.price[np.where(known, positions, 0)], np.nan)

    def positions(self, months: pd.DatetimeIndex) -> np.ndarray:
        """Positions of ``months``; an error names the first outside the series."""
        found = self.months.get_indexer(pd.DatetimeIndex(months))
        if (found < 0).any():
            raise HistoryError(
                f"month {pd.DatetimeIndex(months)[found < 0][0]:%Y-%m} is outside the price "
                f"series ({self.months[0]:%Y-%m}..{self.months[-1]:%Y-%m})"
            )
        return found
