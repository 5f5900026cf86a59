"""The model-ready monthly series, what 03_preprocess writes and 04_train learns from (the
models read nothing else from the data): one row per month from the first to the last
observed price, the price and the rainfall total of the 8 regions (NaN where any is missing)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from milk_forecast.data.checks import StageOutputError, check_monthly, check_parquet
from milk_forecast.data.columns import PRICE_COLUMN, RAIN_COLUMNS, RAIN_TOTAL_COLUMN
from milk_forecast.run_folder.layout import MONTH


def price_rain_series(monthly: pd.DataFrame) -> pd.DataFrame:
    """The series table from the clean monthly table (sorted, one row per month)."""
    check_monthly(monthly, "clean monthly table", required=[PRICE_COLUMN, *RAIN_COLUMNS])
    observed = np.flatnonzero(monthly[PRICE_COLUMN].notna().to_numpy())
    if not len(observed):
        raise StageOutputError(f"clean monthly table: column {PRICE_COLUMN!r} has no value")
    frame = monthly.iloc[observed[0] : observed[-1] + 1]
    rain = frame[RAIN_COLUMNS].to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            MONTH: frame[MONTH].to_numpy(),
            PRICE_COLUMN: frame[PRICE_COLUMN].to_numpy(dtype="float64"),
            RAIN_TOTAL_COLUMN: np.where(np.isnan(rain).any(axis=1), np.nan, rain.sum(axis=1)),
        }
    )


def check_series(path: Path | str) -> pd.DataFrame:
    """The written series table: contiguous months, a positive price in every row."""
    frame = check_parquet(path, required=[PRICE_COLUMN, RAIN_TOTAL_COLUMN], no_nan=[PRICE_COLUMN])
    negative = frame.loc[frame[PRICE_COLUMN] <= 0, MONTH]
    if len(negative):
        raise StageOutputError(
            f"{path}: column {PRICE_COLUMN!r} is not positive at {negative.iloc[0]:%Y-%m}"
        )
    return frame
