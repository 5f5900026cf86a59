"""Synthetic monthly tables for the model tests: a seasonal price with noise and rain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.data.series import price_rain_series
from milk_forecast.model.history import History
from milk_forecast.run_folder.layout import MONTH

SEASON = np.array([0.0, 0.02, 0.04, 0.03, 0.02, 0.0, -0.01, -0.01, -0.05, -0.01, -0.01, 0.0])


def synthetic_monthly(start: str = "1988-01", end: str = "2020-04", seed: int = 7) -> pd.DataFrame:
    """A clean monthly table: ``month``, a price whose log change is seasonal plus drift and
    noise, and the rainfall of the 8 regions."""
    months = pd.date_range(start, end, freq="MS")
    rng = np.random.default_rng(seed)
    season = 0.03 * np.sin(2 * np.pi * (months.month - 2) / 12)
    change = 0.004 + season + 0.01 * rng.standard_normal(len(months))
    frame = pd.DataFrame({MONTH: months, PRICE_COLUMN: 40 * np.exp(np.cumsum(change))})
    for column in RAIN_COLUMNS:
        frame[column] = rng.gamma(2.0, 30.0, len(months))
    return frame


def without_rain_after(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """A copy whose rainfall ends at ``month`` (NaN after it), as when rain is published late."""
    frame = frame.copy()
    frame.loc[frame[MONTH] > pd.Timestamp(month), RAIN_COLUMNS] = np.nan
    return frame


def synthetic_series(monthly: pd.DataFrame | None = None) -> pd.DataFrame:
    """The series table 03_preprocess would write from ``monthly`` (default: synthetic)."""
    return price_rain_series(synthetic_monthly() if monthly is None else monthly)


def periodic_history(years: int = 12, noise: float = 0.0, drift: float = 0.002) -> History:
    """A log price whose monthly change is ``SEASON`` plus drift (and noise), constant rain."""
    months = pd.date_range("2000-01", periods=12 * years, freq="MS")
    rng = np.random.default_rng(2)
    change = SEASON[months.month - 1] + drift + noise * rng.standard_normal(len(months))
    frame = pd.DataFrame({MONTH: months, PRICE_COLUMN: 100 * np.exp(np.cumsum(change))})
    for column in RAIN_COLUMNS:
        frame[column] = 10.0
    return History.from_table(price_rain_series(frame), "2000-01")
