"""Lag and rolling features built only from past months, the usable rows and the shuffled split.

For each of the 47 series ``s`` and each month ``t``:

- ``s_lag1``: the value of month ``t-1``;
- ``s_mean3`` / ``s_std3``: mean / sample standard deviation (ddof 1) of the window of the
  three previous months ``t-3, t-2, t-1``, given as soon as two of them are present.

Why two and not three: the standard deviation needs two values, and two is what the
prototype effectively required (``rolling(3, min_periods=1)`` then ``shift(1)``); it gives
the reference 74 usable months on the real data (2014-03 to 2020-04: the IVCM series
starts in 2014-01, so 2014-03 is the first month with two previous IVCM months). Requiring
three would start in 2014-04 (73 months). Either way no feature of month ``t`` reads month
``t`` itself, above all not the price being predicted."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from milk_forecast.data.checks import check_monthly
from milk_forecast.data.columns import PRICE_COLUMN, SERIES_COLUMNS, SPLIT, TEST, TRAIN
from milk_forecast.run_folder.layout import MONTH

TARGET = PRICE_COLUMN

WINDOW_MONTHS = 3
MIN_WINDOW_MONTHS = 2
FEATURE_SUFFIXES = ("_lag1", "_mean3", "_std3")
FEATURE_COLUMNS = [f"{series}{suffix}" for series in SERIES_COLUMNS for suffix in FEATURE_SUFFIXES]


def build_features(monthly: pd.DataFrame) -> pd.DataFrame:
    """``month``, the target and, per series, ``_lag1``, ``_mean3``, ``_std3`` from past months.

    ``monthly`` must be the clean monthly table: sorted, one row per month, no month missing
    (so that "the previous row" is "the previous month").
    """
    check_monthly(monthly, "clean monthly table", required=SERIES_COLUMNS, contiguous=True)
    past = monthly[SERIES_COLUMNS].astype("float64").shift(1)
    window = past.rolling(WINDOW_MONTHS, min_periods=MIN_WINDOW_MONTHS)
    parts = {"_lag1": past, "_mean3": window.mean(), "_std3": window.std(ddof=1)}
    features = pd.concat([frame.add_suffix(suffix) for suffix, frame in parts.items()], axis=1)
    head = monthly[[MONTH, TARGET]].reset_index(drop=True)
    return pd.concat([head, features[FEATURE_COLUMNS].reset_index(drop=True)], axis=1)


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """The feature columns of ``frame``, in the canonical order (series by series)."""
    return [column for column in FEATURE_COLUMNS if column in frame.columns]


def series_availability(features: pd.DataFrame) -> pd.DataFrame:
    """Per series: first and last month with all its features, latest start first (the series
    that limit the usable range)."""
    rows = []
    for series in SERIES_COLUMNS:
        names = [f"{series}{suffix}" for suffix in FEATURE_SUFFIXES]
        months = features.loc[features[names].notna().all(axis=1), MONTH]
        rows.append({"series": series, "first_month": months.min(), "last_month": months.max()})
    table = pd.DataFrame(rows)
    return table.sort_values(["first_month", "last_month"], ascending=[False, True], kind="stable")


def usable_rows(features: pd.DataFrame) -> pd.DataFrame:
    """The rows where the target and every feature are present, index reset."""
    needed = [TARGET, *feature_columns(features)]
    return features[features[needed].notna().all(axis=1)].reset_index(drop=True)


def add_shuffled_split(
    frame: pd.DataFrame, test_fraction: float = 0.2, random_state: int = 42
) -> pd.DataFrame:
    """A copy sorted by month with ``split`` = ``"train"`` / ``"test"``, as the prototype did:
    ``train_test_split`` (shuffled) over the rows in month order, kept to compare with its
    figures; it is not a time-ordered evaluation."""
    ordered = frame.sort_values(MONTH, kind="stable").reset_index(drop=True)
    _, test_positions = train_test_split(
        np.arange(len(ordered)), test_size=test_fraction, random_state=random_state
    )
    split = np.full(len(ordered), TRAIN, dtype=object)
    split[test_positions] = TEST
    return ordered.assign(**{SPLIT: pd.Series(split, dtype="str")})
