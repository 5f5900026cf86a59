"""Synthetic clean monthly tables for the model tests: a seasonal price with noise and rain."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS
from milk_forecast.run_folder.layout import MONTH


def synthetic_monthly(start: str = "1988-01", end: str = "2020-04", seed: int = 7) -> pd.DataFrame:
    """``month``, a price whose log change is seasonal plus drift and noise, and rainfall."""
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
