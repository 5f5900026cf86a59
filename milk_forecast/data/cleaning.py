"""Parsing the three raw tables and their traps, and merging them into one monthly table.

The raw tables are frames of strings exactly as in the CSV files (empty cells are ``""``).
Every row that is dropped, and every cell that cannot be read, is logged in a *dropped*
table (``file``, ``row`` = 1-based line in the CSV with the header on line 1, ``value``,
``reason``), so that nothing disappears silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from milk_forecast.contracts import (
    BANK_COLUMNS,
    BANK_FILE,
    BANK_PERIOD,
    BANK_SERIES,
    DROPPED_COLUMNS,
    IMACEC_COLUMNS,
    IVCM_COLUMN,
    MONTH,
    MONTH_NAMES,
    PIB_COLUMNS,
    PRICE_COLUMN,
    PRICE_COLUMNS,
    PRICE_FILE,
    RAIN_COLUMNS,
    RAIN_DATE,
    RAIN_FILE,
    RAIN_REGIONS,
    rain_column,
)

RAIN_SOURCE_COLUMNS = {region: rain_column(region) for region in RAIN_REGIONS}
# Indices whose decimal point was lost (recover_index_value); the PIB* lost their dots.
INDEX_SOURCE_COLUMNS = [*IMACEC_COLUMNS, IVCM_COLUMN]
INDEX_COLUMNS = [name.lower() for name in INDEX_SOURCE_COLUMNS]

YEAR, MONTH_NAME, PRICE = PRICE_COLUMNS  # "Anio", "Mes", "Precio_leche"
SPANISH_MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}

# Every logged reason starts with one of these (see ``reason_kind``).
MALFORMED_PERIOD = "malformed period"
DUPLICATE_PERIOD = "duplicate period"
BEFORE_RANGE = "before the first price month"
AFTER_RANGE = "after the last price month"
UNREADABLE_VALUE = "unreadable value"
MISSING_PRICE = "missing price"
REASON_KINDS = (
    MALFORMED_PERIOD,
    DUPLICATE_PERIOD,
    BEFORE_RANGE,
    AFTER_RANGE,
    UNREADABLE_VALUE,
    MISSING_PRICE,
)

_DOTTED_DIGITS = re.compile(r"\d+(?:\.\d+)*")
_DECIMAL = re.compile(r"-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?")
_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?: 00:00:00(?: UTC)?)?")
_YEAR = re.compile(r"\d{4}")


class CleaningError(ValueError):
    """A raw table or value that cannot be read; the message names the file/column and value."""


@dataclass(frozen=True)
class CleanResult:
    """The merged monthly table and the log of dropped rows and unreadable cells."""

    monthly: pd.DataFrame
    dropped: pd.DataFrame


def _where(column: str) -> str:
    return f"column {column!r}: " if column else ""


def parse_dotted_integer(text: str, column: str = "") -> float:
    """``"579.846.819"`` -> 579846819.0: the dots are dropped; ``""`` -> NaN.

    The rule of the data README for the ``PIB*`` series, applied literally: a cell that
    kept its decimal point (``"1358.56"``) also loses it (135856.0), as in the prototype.
    """
    text = text.strip()
    if not text:
        return np.nan
    if not _DOTTED_DIGITS.fullmatch(text):
        raise CleaningError(f"{_where(column)}{text!r} is not a dotted integer like '579.846.819'")
    return float(text.replace(".", ""))


def recover_index_value(text: str, column: str = "") -> float:
    """An index living roughly in 30..130 whose decimal point was lost; ``""`` -> NaN.

    The digits are right: the decimal point goes after 3 digits when they start with
    ``1`` (100..199.99), else after 2 (20..99.99). ``"102.796.218"`` -> 102.796218,
    ``"978.554.365"`` -> 97.8554365, ``"10.546.824"`` -> 105.46824.
    """
    text = text.strip()
    if not text:
        return np.nan
    if not _DOTTED_DIGITS.fullmatch(text):
        raise CleaningError(f"{_where(column)}{text!r} is not an index like '102.796.218'")
    digits = text.replace(".", "")
    if digits[0] == "0":
        raise CleaningError(f"{_where(column)}{text!r} starts with 0: not a plausible index")
    integer_digits = 3 if digits[0] == "1" else 2
    return int(digits) / 10 ** (len(digits) - integer_digits)


def parse_decimal(text: str, column: str = "") -> float:
    """A plain decimal number with ``.`` as decimal point (``"3.85"``); ``""`` -> NaN."""
    text = text.strip()
    if not text:
        return np.nan
    if not _DECIMAL.fullmatch(text):
        raise CleaningError(f"{_where(column)}{text!r} is not a decimal number like '3.85'")
    return float(text)


def parse_spanish_month(year: str, month_name: str) -> pd.Timestamp:
    """``("2020", "Abr")`` -> 2020-04-01; unknown names or years raise ``CleaningError``."""
    year, month_name = year.strip(), month_name.strip()
    if not _YEAR.fullmatch(year):
        raise CleaningError(f"{MALFORMED_PERIOD} {year!r} {month_name!r}: year is not 4 digits")
    number = SPANISH_MONTHS.get(month_name.capitalize())
    if number is None:
        raise CleaningError(
            f"{MALFORMED_PERIOD} {year!r} {month_name!r}: unknown Spanish month name "
            f"(expected one of {', '.join(SPANISH_MONTHS)})"
        )
    return pd.Timestamp(year=int(year), month=number, day=1)


def parse_month_start(text: str) -> pd.Timestamp:
    """``"2013-03-01"`` or ``"2013-03-01 00:00:00 UTC"`` -> 2013-03-01 (naive month start)."""
    match = _DATE.fullmatch(text.strip())
    if not match:
        raise CleaningError(f"{MALFORMED_PERIOD} {text!r}")
    year, month, day = (int(part) for part in match.groups())
    if not 1 <= month <= 12 or day != 1:
        raise CleaningError(f"{MALFORMED_PERIOD} {text!r}")
    return pd.Timestamp(year=year, month=month, day=1)


def _dropped_frame(records: list[dict[str, object]]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(records, columns=DROPPED_COLUMNS)
    return frame.astype({"file": "str", "row": "int64", "value": "str", "reason": "str"})


def _text_columns(raw: pd.DataFrame, file: str, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns as stripped strings (missing cells as ``""``), lines as the index."""
    missing = [column for column in columns if column not in raw.columns]
    if missing:
        raise CleaningError(f"{file}: missing column(s) {', '.join(map(repr, missing))}")
    text = pd.DataFrame(
        {column: raw[column].fillna("").astype(str).str.strip() for column in columns}
    )
    text.index = pd.RangeIndex(2, len(raw) + 2, name="row")  # header is line 1
    return text


def _periods(
    text: pd.DataFrame,
    file: str,
    parse: Callable[[pd.Series], pd.Timestamp],
    shown: Callable[[pd.Series], str],
    months: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Rows with a valid, unique period (sorted, within ``months``) and the log of the others."""
    log: list[dict[str, object]] = []
    parsed: dict[int, pd.Timestamp] = {}
    for row, values in zip(text.index, text.to_dict("records"), strict=True):
        try:
            parsed[row] = parse(values)
        except CleaningError as error:
            log.append({"file": file, "row": row, "value": shown(values), "reason": str(error)})
    kept = text.loc[list(parsed)].assign(**{MONTH: pd.Series(parsed, dtype="datetime64[ns]")})

    first_rows: dict[pd.Timestamp, int] = {}
    keep = []
    for row, month in kept[MONTH].items():
        if month not in first_rows:
            first_rows[month] = row
            keep.append(row)
            continue
        first = first_rows[month]
        same = kept.loc[row, text.columns].equals(kept.loc[first, text.columns])
        detail = "identical to it" if same else "its values differ"
        log.append(
            {
                "file": file,
                "row": row,
                "value": shown(kept.loc[row]),
                "reason": f"{DUPLICATE_PERIOD} {month:%Y-%m}: kept the first row "
                f"(line {first}), {detail}",
            }
        )
    kept = kept.loc[keep].sort_values(MONTH, kind="stable")

    if months is not None:
        first, last = months
        for row, month in kept[MONTH].items():
            if month < first or month > last:
                bound, reason = (first, BEFORE_RANGE) if month < first else (last, AFTER_RANGE)
                log.append(
                    {
                        "file": file,
                        "row": row,
                        "value": shown(kept.loc[row]),
                        "reason": f"{reason} {bound:%Y-%m}",
                    }
                )
        kept = kept[kept[MONTH].between(first, last)]
    return kept, log


def _parse_cells(
    kept: pd.DataFrame,
    file: str,
    columns: dict[str, str],
    parse: Callable[[str, str], float],
    consequence: str = "left missing",
) -> tuple[pd.DataFrame, list[dict[str, object]]]:
    """Parse each cell of ``columns`` (source -> clean name); unreadable cells -> NaN, logged."""
    log: list[dict[str, object]] = []
    clean = pd.DataFrame({MONTH: kept[MONTH]})
    for source, name in columns.items():
        values = []
        for row, text in kept[source].items():
            try:
                values.append(parse(text, name))
            except CleaningError as error:
                values.append(np.nan)
                log.append(
                    {
                        "file": file,
                        "row": row,
                        "value": text,
                        "reason": f"{UNREADABLE_VALUE}: {error}; {consequence}",
                    }
                )
        clean[name] = np.asarray(values, dtype="float64")
    return clean.reset_index(drop=True), log


def parse_price_table(
    raw: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``precio_leche.csv`` (Anio, Mes, Precio_leche) -> (month + price, dropped rows).

    Rows with an unknown month name, a duplicated month (the first is kept) or a price that
    is missing or unreadable are dropped and logged; rows are sorted by month.
    """
    text = _text_columns(raw, PRICE_FILE, list(PRICE_COLUMNS))
    kept, log = _periods(
        text,
        PRICE_FILE,
        parse=lambda values: parse_spanish_month(values[YEAR], values[MONTH_NAME]),
        shown=lambda values: f"{values[YEAR]} {values[MONTH_NAME]}",
        months=months,
    )
    clean, cell_log = _parse_cells(
        kept, PRICE_FILE, {PRICE: PRICE_COLUMN}, parse_decimal, "row dropped"
    )
    empty = kept[PRICE] == ""
    log.extend(
        {"file": PRICE_FILE, "row": row, "value": "", "reason": f"{MISSING_PRICE}: row dropped"}
        for row in kept.index[empty]
    )
    clean = clean[clean[PRICE_COLUMN].notna()].reset_index(drop=True)
    log.extend(cell_log)
    return clean, _dropped_frame(log)


def parse_rainfall_table(
    raw: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``precipitaciones.csv`` (date + 8 regions, unsorted) -> (month + RAIN_COLUMNS, dropped)."""
    text = _text_columns(raw, RAIN_FILE, [RAIN_DATE, *RAIN_SOURCE_COLUMNS])
    kept, log = _periods(
        text,
        RAIN_FILE,
        parse=lambda values: parse_month_start(values[RAIN_DATE]),
        shown=lambda values: values[RAIN_DATE],
        months=months,
    )
    clean, cell_log = _parse_cells(kept, RAIN_FILE, RAIN_SOURCE_COLUMNS, parse_decimal)
    return clean, _dropped_frame(log + cell_log)


def parse_central_bank_table(
    raw: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``banco_central.csv`` -> (month + BANK_COLUMNS, dropped rows).

    ``Periodo`` like ``2013-03-01 00:00:00 UTC``; malformed periods are dropped, duplicated
    periods keep their first row, rows are sorted. Indices go through
    ``recover_index_value``, the ``PIB*`` series through ``parse_dotted_integer``.
    """
    text = _text_columns(raw, BANK_FILE, [BANK_PERIOD, *BANK_SERIES])
    kept, log = _periods(
        text,
        BANK_FILE,
        parse=lambda values: parse_month_start(values[BANK_PERIOD]),
        shown=lambda values: values[BANK_PERIOD],
        months=months,
    )
    indices, index_log = _parse_cells(
        kept, BANK_FILE, {c: c.lower() for c in INDEX_SOURCE_COLUMNS}, recover_index_value
    )
    gdp, gdp_log = _parse_cells(
        kept, BANK_FILE, {c: c.lower() for c in PIB_COLUMNS}, parse_dotted_integer
    )
    clean = pd.concat([indices, gdp.drop(columns=MONTH)], axis=1)[[MONTH, *BANK_COLUMNS]]
    return clean, _dropped_frame(log + index_log + gdp_log)


def merge_monthly(price: pd.DataFrame, rain: pd.DataFrame, bank: pd.DataFrame) -> pd.DataFrame:
    """One row per month from the first to the last price month, sorted, no month missing.

    Columns: ``month``, ``PRICE_COLUMN``, ``RAIN_COLUMNS``, ``BANK_COLUMNS``. Months absent
    from a source are NaN in its columns (a month absent everywhere is an all-NaN row);
    series that end before the price stay NaN at the end: nothing is filled in.
    """
    if price[PRICE_COLUMN].notna().sum() == 0:
        raise CleaningError(f"{PRICE_FILE}: no month with a price, nothing to merge")
    priced = price.loc[price[PRICE_COLUMN].notna(), MONTH]
    months = pd.date_range(priced.min(), priced.max(), freq="MS")
    monthly = pd.DataFrame({MONTH: months.astype("datetime64[ns]")})
    for file, source, columns in [
        (PRICE_FILE, price, [PRICE_COLUMN]),
        (RAIN_FILE, rain, RAIN_COLUMNS),
        (BANK_FILE, bank, BANK_COLUMNS),
    ]:
        if source[MONTH].duplicated().any():
            duplicated = source.loc[source[MONTH].duplicated(), MONTH].iloc[0]
            raise CleaningError(f"{file}: month {duplicated:%Y-%m} appears more than once")
        part = source[[MONTH, *columns]].astype({MONTH: "datetime64[ns]"})
        monthly = monthly.merge(part, on=MONTH, how="left", validate="one_to_one")
    return monthly.astype({column: "float64" for column in monthly.columns if column != MONTH})


def clean_inputs(raw: dict[str, pd.DataFrame]) -> CleanResult:
    """Parse the three raw tables (keyed by file name) and merge them by month.

    Rain and central bank rows outside the price months are dropped and logged.
    """
    missing = [file for file in (PRICE_FILE, RAIN_FILE, BANK_FILE) if file not in raw]
    if missing:
        raise CleaningError(f"raw inputs: missing table(s) {', '.join(map(repr, missing))}")
    price, price_dropped = parse_price_table(raw[PRICE_FILE])
    if price.empty:
        raise CleaningError(f"{PRICE_FILE}: no row with a valid month and price")
    months = (price[MONTH].min(), price[MONTH].max())
    rain, rain_dropped = parse_rainfall_table(raw[RAIN_FILE], months)
    bank, bank_dropped = parse_central_bank_table(raw[BANK_FILE], months)
    dropped = pd.concat([price_dropped, rain_dropped, bank_dropped], ignore_index=True)
    dropped = dropped.sort_values(["file", "row"], kind="stable", ignore_index=True)
    return CleanResult(monthly=merge_monthly(price, rain, bank), dropped=dropped)


def reason_kind(reason: str) -> str:
    """The fixed start of a logged reason (one of ``REASON_KINDS``), for counting."""
    return next((kind for kind in REASON_KINDS if reason.startswith(kind)), "other")


def reason_counts(dropped: pd.DataFrame) -> pd.DataFrame:
    """How many rows / cells were dropped, per file and kind of reason."""
    kinds = dropped.assign(kind=dropped["reason"].map(reason_kind))
    return kinds.groupby(["file", "kind"]).size().rename("count").reset_index()


def source_of(column: str) -> str:
    """The raw file a monthly column comes from."""
    if column == PRICE_COLUMN:
        return PRICE_FILE
    return RAIN_FILE if column in RAIN_COLUMNS else BANK_FILE


def coverage(monthly: pd.DataFrame) -> pd.DataFrame:
    """Per series: its source, first and last month with a value, and missing months between."""
    rows = []
    for column in [PRICE_COLUMN, *RAIN_COLUMNS, *BANK_COLUMNS]:
        present = monthly.loc[monthly[column].notna(), MONTH]
        first, last = (present.min(), present.max()) if len(present) else (pd.NaT, pd.NaT)
        inside = monthly[MONTH].between(first, last) if len(present) else monthly[MONTH].isna()
        rows.append(
            {
                "series": column,
                "source": source_of(column),
                "first_month": first,
                "last_month": last,
                "months_with_value": len(present),
                "missing_months_inside": int(monthly.loc[inside, column].isna().sum()),
            }
        )
    return pd.DataFrame(rows)
