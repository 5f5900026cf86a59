"""Checks that a stage runs on what it wrote, before the next stage reads it. Every error names
the file, so a failed run says which product is wrong."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from milk_forecast.run_folder.layout import MONTH


class StageOutputError(ValueError):
    """A stage product that is missing, empty, unsorted, incomplete or inconsistent."""


def check_written(path: Path | str) -> Path:
    """``path`` is a file with content, else ``StageOutputError`` saying it was not written."""
    path = Path(path)
    try:
        written = path.is_file() and path.stat().st_size > 0
    except OSError:
        written = False
    if not written:
        raise StageOutputError(f"{path}: was not written")
    return path


def check_columns(frame: pd.DataFrame, path: Path | str, required: Iterable[str]) -> None:
    missing = [column for column in required if column not in frame.columns]
    if missing:
        raise StageOutputError(f"{path}: missing column(s) {', '.join(map(repr, missing))}")


def check_monthly(
    frame: pd.DataFrame,
    path: Path | str,
    required: Iterable[str] = (),
    no_nan: Iterable[str] = (),
    contiguous: bool = True,
) -> None:
    """A monthly table: rows, columns, sorted unique month starts, no gap, no NaN where none is allowed."""
    if frame.empty:
        raise StageOutputError(f"{path}: has no rows")
    check_columns(frame, path, [MONTH, *required])
    months = pd.DatetimeIndex(frame[MONTH])
    if months.hasnans:
        raise StageOutputError(f"{path}: column 'month' has missing values")
    not_start = months[months != months.to_period("M").to_timestamp()]
    if len(not_start):
        raise StageOutputError(
            f"{path}: 'month' must hold the first day of a month, found {not_start[0].date()}"
        )
    if months.has_duplicates:
        duplicated = months[months.duplicated()][0]
        raise StageOutputError(f"{path}: month {duplicated:%Y-%m} appears more than once")
    if not months.is_monotonic_increasing:
        raise StageOutputError(f"{path}: rows are not sorted by month")
    if contiguous:
        expected = pd.date_range(months[0], months[-1], freq="MS")
        gaps = expected.difference(months)
        if len(gaps):
            shown = ", ".join(f"{m:%Y-%m}" for m in gaps[:5])
            raise StageOutputError(f"{path}: {len(gaps)} missing month(s): {shown}")
    check_no_nan(frame, path, no_nan)


def check_no_nan(frame: pd.DataFrame, path: Path | str, columns: Iterable[str]) -> None:
    for column in columns:
        check_columns(frame, path, [column])
        bad = frame.loc[frame[column].isna(), MONTH]
        if len(bad):
            first = bad.iloc[0]
            where = f"{first:%Y-%m}" if isinstance(first, pd.Timestamp) else str(first)
            raise StageOutputError(
                f"{path}: column {column!r} has {len(bad)} missing value(s), first at {where}"
            )


def check_parquet(
    path: Path | str, required: Iterable[str] = (), no_nan: Iterable[str] = ()
) -> pd.DataFrame:
    """Read back a monthly parquet product and check it (contiguous months); returns the frame."""
    frame = pd.read_parquet(check_written(path))
    check_monthly(frame, path, required, no_nan)
    return frame
