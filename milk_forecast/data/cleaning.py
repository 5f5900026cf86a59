"""Parsing the three raw tables and their traps, and merging them into one monthly table.

The raw tables are frames of strings exactly as in the CSV files (empty cells are ``""``).
Every row that is dropped, and every cell that cannot be read, is logged in a *dropped*
table (``file``, ``row`` = 1-based line in the CSV with the header on line 1, ``value``,
``reason``), so that nothing disappears silently. Every ``PIB_*`` cell that lost trailing
zeros in the export is rescaled (the data README's rule) and listed in a *rescaled* table.

Every step works on whole columns, so the time grows linearly with the rows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milk_forecast.data import columns as cols
from milk_forecast.data import parsing
from milk_forecast.data.lost_zeros import restore_lost_zeros
from milk_forecast.run_folder.layout import MONTH

# Source column -> clean column (the parsers: see ``parse_central_bank_table``).
RAIN_SOURCE_COLUMNS = {region: cols.rain_column(region) for region in cols.RAIN_REGIONS}
INDEX_SOURCE_COLUMNS = {name: name.lower() for name in [*cols.IMACEC_COLUMNS, cols.IVCM_COLUMN]}
PIB_SOURCE_COLUMNS = {name: name.lower() for name in cols.PIB_COLUMNS}

YEAR, MONTH_NAME, PRICE = cols.PRICE_COLUMNS  # "Anio", "Mes", "Precio_leche"
Months = tuple[pd.Timestamp, pd.Timestamp]  # the first and last month kept

# Every logged reason starts with one of these (see ``reason_kind``).
DUPLICATE_PERIOD = "duplicate period"
BEFORE_RANGE = "before the first price month"
AFTER_RANGE = "after the last price month"
UNREADABLE_VALUE = "unreadable value"
MISSING_PRICE = "missing price"
REASON_KINDS = (
    parsing.MALFORMED_PERIOD,
    DUPLICATE_PERIOD,
    BEFORE_RANGE,
    AFTER_RANGE,
    UNREADABLE_VALUE,
    MISSING_PRICE,
)


class CleaningError(ValueError):
    """A raw table that cannot be read; the message names the file and what is wrong."""


@dataclass(frozen=True)
class CleanResult:
    """The merged monthly table, the log of dropped rows and unreadable cells, the rescaled cells."""

    monthly: pd.DataFrame
    dropped: pd.DataFrame
    rescaled: pd.DataFrame


def _log(file: str, values: pd.Series, reasons: pd.Series | str) -> pd.DataFrame:
    """Log entries: ``file``, the CSV lines (the index of ``values``), the values, the reasons."""
    columns = {
        "file": file,
        "row": np.asarray(values.index, dtype="int64"),
        "value": np.asarray(values, dtype="object"),
        "reason": reasons if isinstance(reasons, str) else np.asarray(reasons, dtype="object"),
    }
    return pd.DataFrame(columns, columns=cols.DROPPED_COLUMNS)


def _dropped_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    found = [part for part in parts if len(part)] or [pd.DataFrame(columns=cols.DROPPED_COLUMNS)]
    frame = pd.concat(found, ignore_index=True)
    return frame.astype({"file": "str", "row": "int64", "value": "str", "reason": "str"})


def _text_columns(raw: pd.DataFrame, file: str, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns as stripped strings (missing cells as ``""``), lines as the index."""
    missing = [column for column in columns if column not in raw.columns]
    if missing:
        raise CleaningError(f"{file}: missing column(s) {', '.join(map(repr, missing))}")
    text = pd.DataFrame({column: parsing.stripped(raw[column]) for column in columns})
    text.index = pd.RangeIndex(2, len(raw) + 2, name="row")  # header is line 1
    return text


def _periods(
    text: pd.DataFrame, file: str, periods: parsing.Parsed, shown: pd.Series, months: Months | None
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Rows with a valid, unique period (sorted, within ``months``) and the log of the others;
    ``periods``: each row's month and the errors, ``shown``: each row's period as logged."""
    parsed, errors = periods
    log = [_log(file, shown[errors.index], errors)]
    kept = text[parsed.notna()].assign(**{MONTH: parsed[parsed.notna()]})

    duplicate = kept[MONTH].duplicated(keep="first")
    if duplicate.any():
        lines = pd.Series(kept.index, index=kept.index)
        first = lines.groupby(kept[MONTH]).transform("first")[duplicate]
        columns = list(text.columns)
        this, that = kept.loc[duplicate, columns].to_numpy(), kept.loc[first, columns].to_numpy()
        same = (this == that).all(axis=1)
        reasons = (
            f"{DUPLICATE_PERIOD} "
            + kept.loc[duplicate, MONTH].dt.strftime("%Y-%m")
            + ": kept the first row (line "
            + first.astype(str)
            + "), "
            + np.where(same, "identical to it", "its values differ")
        )
        log.append(_log(file, shown[reasons.index], reasons))
    kept = kept[~duplicate].sort_values(MONTH, kind="stable")

    if months is not None:
        first_month, last_month = months
        for outside, reason in [
            (kept[MONTH] < first_month, f"{BEFORE_RANGE} {first_month:%Y-%m}"),
            (kept[MONTH] > last_month, f"{AFTER_RANGE} {last_month:%Y-%m}"),
        ]:
            log.append(_log(file, shown[kept.index[outside]], reason))
        kept = kept[kept[MONTH].between(first_month, last_month)]
    return kept, log


def _parse_cells(
    kept: pd.DataFrame,
    file: str,
    columns: dict[str, str],
    parse: Callable[[pd.Series, str], parsing.Parsed],
    consequence: str = "left missing",
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Parse each cell of ``columns`` (source -> clean name); unreadable cells -> NaN, logged."""
    log = []
    clean = pd.DataFrame({MONTH: kept[MONTH]})
    for source, name in columns.items():
        values, errors = parse(kept[source], name)
        clean[name] = values.to_numpy(dtype="float64")
        reasons = f"{UNREADABLE_VALUE}: " + errors + f"; {consequence}"
        log.append(_log(file, kept.loc[errors.index, source], reasons))
    return clean.reset_index(drop=True), log


def parse_price_table(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``precio_leche.csv`` (Anio, Mes, Precio_leche) -> (month + price, dropped rows). Rows
    with an unknown month name, a duplicated month (the first is kept) or a price that is
    missing or unreadable are dropped and logged; rows are sorted by month."""
    text = _text_columns(raw, cols.PRICE_FILE, list(cols.PRICE_COLUMNS))
    periods = parsing.spanish_months(text[YEAR], text[MONTH_NAME])
    kept, log = _periods(text, cols.PRICE_FILE, periods, text[YEAR] + " " + text[MONTH_NAME], None)
    clean, cell_log = _parse_cells(
        kept, cols.PRICE_FILE, {PRICE: cols.PRICE_COLUMN}, parsing.decimals, "row dropped"
    )
    empty = kept.loc[kept[PRICE] == "", PRICE]
    log.append(_log(cols.PRICE_FILE, empty, f"{MISSING_PRICE}: row dropped"))
    clean = clean[clean[cols.PRICE_COLUMN].notna()].reset_index(drop=True)
    return clean, _dropped_frame(log + cell_log)


def parse_rainfall_table(
    raw: pd.DataFrame, months: Months | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``precipitaciones.csv`` (date + 8 regions, unsorted) -> (month + RAIN_COLUMNS, dropped)."""
    text = _text_columns(raw, cols.RAIN_FILE, [cols.RAIN_DATE, *RAIN_SOURCE_COLUMNS])
    dates = text[cols.RAIN_DATE]
    kept, log = _periods(text, cols.RAIN_FILE, parsing.month_starts(dates), dates, months)
    clean, cell_log = _parse_cells(kept, cols.RAIN_FILE, RAIN_SOURCE_COLUMNS, parsing.decimals)
    return clean, _dropped_frame(log + cell_log)


def parse_central_bank_table(
    raw: pd.DataFrame, months: Months | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``banco_central.csv`` -> (month + BANK_COLUMNS, dropped rows, rescaled cells). ``Periodo``
    like ``2013-03-01 00:00:00 UTC``; malformed periods are dropped, duplicated periods keep
    their first row, rows are sorted. Indices go through ``index_values``, the ``PIB*``
    series through ``dotted_integers`` and then ``restore_lost_zeros``."""
    text = _text_columns(raw, cols.BANK_FILE, [cols.BANK_PERIOD, *cols.BANK_SERIES])
    periods = text[cols.BANK_PERIOD]
    kept, log = _periods(text, cols.BANK_FILE, parsing.month_starts(periods), periods, months)
    indices, index_log = _parse_cells(
        kept, cols.BANK_FILE, INDEX_SOURCE_COLUMNS, parsing.index_values
    )
    gdp, gdp_log = _parse_cells(kept, cols.BANK_FILE, PIB_SOURCE_COLUMNS, parsing.dotted_integers)
    gdp, rescaled = restore_lost_zeros(kept, gdp)
    clean = pd.concat([indices, gdp.drop(columns=MONTH)], axis=1)[[MONTH, *cols.BANK_COLUMNS]]
    return clean, _dropped_frame(log + index_log + gdp_log), rescaled


def merge_monthly(price: pd.DataFrame, rain: pd.DataFrame, bank: pd.DataFrame) -> pd.DataFrame:
    """One row per month from the first to the last price month, sorted, no month missing.

    Columns: ``month``, ``PRICE_COLUMN``, ``RAIN_COLUMNS``, ``BANK_COLUMNS``. Months absent
    from a source are NaN in its columns (a month absent everywhere is an all-NaN row);
    series that end before the price stay NaN at the end: nothing is filled in.
    """
    priced = price.loc[price[cols.PRICE_COLUMN].notna(), MONTH]
    if priced.empty:
        raise CleaningError(f"{cols.PRICE_FILE}: no month with a price, nothing to merge")
    months = pd.date_range(priced.min(), priced.max(), freq="MS")
    monthly = pd.DataFrame({MONTH: months.astype("datetime64[ns]")})
    for file, source, columns in [
        (cols.PRICE_FILE, price, [cols.PRICE_COLUMN]),
        (cols.RAIN_FILE, rain, cols.RAIN_COLUMNS),
        (cols.BANK_FILE, bank, cols.BANK_COLUMNS),
    ]:
        if source[MONTH].duplicated().any():
            duplicated = source.loc[source[MONTH].duplicated(), MONTH].iloc[0]
            raise CleaningError(f"{file}: month {duplicated:%Y-%m} appears more than once")
        part = source[[MONTH, *columns]].astype({MONTH: "datetime64[ns]"})
        monthly = monthly.merge(part, on=MONTH, how="left", validate="one_to_one")
    return monthly.astype({column: "float64" for column in monthly.columns if column != MONTH})


def clean_inputs(raw: dict[str, pd.DataFrame]) -> CleanResult:
    """Parse the three raw tables (keyed by file name) and merge them by month; rain and
    central bank rows outside the price months are dropped and logged."""
    missing = [file for file in cols.RAW_FILES if file not in raw]
    if missing:
        raise CleaningError(f"raw inputs: missing table(s) {', '.join(map(repr, missing))}")
    price, price_dropped = parse_price_table(raw[cols.PRICE_FILE])
    if price.empty:
        raise CleaningError(f"{cols.PRICE_FILE}: no row with a valid month and price")
    months = (price[MONTH].min(), price[MONTH].max())
    rain, rain_dropped = parse_rainfall_table(raw[cols.RAIN_FILE], months)
    bank, bank_dropped, rescaled = parse_central_bank_table(raw[cols.BANK_FILE], months)
    dropped = pd.concat([price_dropped, rain_dropped, bank_dropped], ignore_index=True)
    dropped = dropped.sort_values(["file", "row"], kind="stable", ignore_index=True)
    return CleanResult(merge_monthly(price, rain, bank), dropped, rescaled)


def reason_kind(reason: str) -> str:
    """The fixed start of a logged reason (one of ``REASON_KINDS``), for counting."""
    return next((kind for kind in REASON_KINDS if reason.startswith(kind)), "other")


def reason_counts(dropped: pd.DataFrame) -> pd.DataFrame:
    """How many rows / cells were dropped, per file and kind of reason."""
    kinds = dropped.assign(kind=dropped["reason"].map(reason_kind))
    return kinds.groupby(["file", "kind"]).size().rename("count").reset_index()


def coverage(monthly: pd.DataFrame) -> pd.DataFrame:
    """Per series: its source, first and last month with a value, and missing months between."""
    sources = (
        {cols.PRICE_COLUMN: cols.PRICE_FILE}
        | dict.fromkeys(cols.RAIN_COLUMNS, cols.RAIN_FILE)
        | dict.fromkeys(cols.BANK_COLUMNS, cols.BANK_FILE)
    )
    rows = []
    for column, source in sources.items():
        present = monthly.loc[monthly[column].notna(), MONTH]
        first, last = present.min(), present.max()  # NaT if the series has no value
        inside = monthly[MONTH].between(first, last)
        rows.append(
            {
                "series": column,
                "source": source,
                "first_month": first,
                "last_month": last,
                "months_with_value": len(present),
                "missing_months_inside": int(monthly.loc[inside, column].isna().sum()),
            }
        )
    return pd.DataFrame(rows)
