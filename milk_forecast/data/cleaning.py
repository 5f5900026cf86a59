"""Parsing the three raw tables and their traps, and merging them into one monthly table.

The raw tables are frames of strings exactly as in the CSV files (empty cells are ``""``).
Every row that is dropped, and every cell that cannot be read, is logged in a *dropped*
table (``file``, ``row`` = 1-based line in the CSV with the header on line 1, ``value``,
``reason``), so that nothing disappears silently. Every ``PIB_*`` cell that lost trailing
zeros in the export is rescaled (the data README's rule) and listed in a *rescaled* table.

Every step works on whole columns, so the time grows linearly with the rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from milk_forecast.data import checks
from milk_forecast.data.checks import StageOutputError
from milk_forecast.data.columns import (
    BANK_COLUMNS,
    BANK_FILE,
    BANK_PERIOD,
    BANK_SERIES,
    DROPPED_COLUMNS,
    IMACEC_COLUMNS,
    IVCM_COLUMN,
    MONTH_NAMES,
    PIB_COLUMNS,
    PRICE_COLUMN,
    PRICE_COLUMNS,
    PRICE_FILE,
    RAIN_COLUMNS,
    RAIN_DATE,
    RAIN_FILE,
    RAIN_REGIONS,
    RESCALED_COLUMNS,
    rain_column,
)
from milk_forecast.run_folder.layout import MONTH

RAIN_SOURCE_COLUMNS = {region: rain_column(region) for region in RAIN_REGIONS}
# rescaled_cells.parquet: the column types of RESCALED_COLUMNS.
RESCALED_TYPES = dict(
    zip(
        RESCALED_COLUMNS,
        ["str", "int64", "datetime64[ns]", "str", "str", "int64", "float64"],
        strict=True,
    )
)
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

_DOTTED_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?: 00:00:00(?: UTC)?)?")
_YEAR = re.compile(r"[0-9]{4}")
# The years a month can have in a datetime64[ns] column.
YEARS = (pd.Timestamp.min.year + 1, pd.Timestamp.max.year - 1)

# A vectorised parser: the values (NaN / NaT where unreadable) and, for each unreadable
# entry, its message (a Series indexed like those entries). Every parser below is one,
# and the scalar functions (``parse_decimal``...) call them on one value: one piece of
# logic, whose cost grows linearly with the rows.
Parsed = tuple[pd.Series, pd.Series]


class CleaningError(ValueError):
    """A raw table or value that cannot be read; the message names the file/column and value."""


@dataclass(frozen=True)
class CleanResult:
    """The merged monthly table, the log of dropped rows and unreadable cells, the rescaled cells."""

    monthly: pd.DataFrame
    dropped: pd.DataFrame
    rescaled: pd.DataFrame


def _where(column: str) -> str:
    return f"column {column!r}: " if column else ""


def _stripped(text: pd.Series) -> pd.Series:
    return text.fillna("").astype(str).str.strip()


def _messages(text: pd.Series, message: Callable[[str], str]) -> pd.Series:
    """``message(repr(cell))`` for each cell of ``text`` (only unreadable cells get here)."""
    return pd.Series([message(repr(cell)) for cell in text], index=text.index, dtype="object")


def _errors(*parts: pd.Series) -> pd.Series:
    found = [part for part in parts if len(part)]
    return pd.concat(found).sort_index() if found else pd.Series([], dtype="object")


def _matching(text: pd.Series, pattern: re.Pattern[str]) -> pd.Series:
    return text.str.fullmatch(pattern.pattern).fillna(False).astype(bool)


def _one(parsed: Parsed) -> Any:
    """The single value of a parser's result, or its error raised."""
    values, errors = parsed
    if len(errors):
        raise CleaningError(errors.iloc[0])
    return values.iloc[0]


def _cell(text: str) -> pd.Series:
    return pd.Series([text], dtype="object")


def dotted_integers(text: pd.Series, column: str = "") -> Parsed:
    """``"579.846.819"`` -> 579846819.0 for each cell: the dots are dropped; ``""`` -> NaN."""
    text = _stripped(text)
    empty, valid = text == "", _matching(text, _DOTTED_DIGITS)
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    values[valid] = text[valid].str.replace(".", "", regex=False).astype("float64")
    errors = _messages(
        text[~valid & ~empty],
        lambda cell: f"{_where(column)}{cell} is not a dotted integer like '579.846.819'",
    )
    return values, errors


def parse_dotted_integer(text: str, column: str = "") -> float:
    """``"579.846.819"`` -> 579846819.0: the dots are dropped; ``""`` -> NaN.

    The rule of the data README for the ``PIB*`` series, applied literally: a cell that
    kept its decimal point (``"1358.56"``) also loses it (135856.0), as in the prototype.
    Cells that also lost trailing zeros are rescaled afterwards (``lost_zero_factors``).
    """
    return float(_one(dotted_integers(_cell(text), column)))


def index_values(text: pd.Series, column: str = "") -> Parsed:
    """Indices living roughly in 30..130 whose decimal point was lost; ``""`` -> NaN.

    The digits are right: the decimal point goes after 3 digits when they start with
    ``1`` (100..199.99), else after 2 (20..99.99).
    """
    text = _stripped(text)
    empty, valid = text == "", _matching(text, _DOTTED_DIGITS)
    digits = text[valid].str.replace(".", "", regex=False)
    zero = digits.str.startswith("0")
    good = digits[~zero]
    integer_digits = np.where(good.str.startswith("1"), 3, 2)
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    values[good.index] = good.astype("float64") / 10.0 ** (good.str.len() - integer_digits)
    errors = _errors(
        _messages(
            text[~valid & ~empty],
            lambda cell: f"{_where(column)}{cell} is not an index like '102.796.218'",
        ),
        _messages(
            text[zero[zero].index],
            lambda cell: f"{_where(column)}{cell} starts with 0: not a plausible index",
        ),
    )
    return values, errors


def recover_index_value(text: str, column: str = "") -> float:
    """An index living roughly in 30..130 whose decimal point was lost; ``""`` -> NaN.

    ``"102.796.218"`` -> 102.796218, ``"978.554.365"`` -> 97.8554365,
    ``"10.546.824"`` -> 105.46824 (see ``index_values``).
    """
    return float(_one(index_values(_cell(text), column)))


def decimals(text: pd.Series, column: str = "") -> Parsed:
    """Plain decimal numbers with ``.`` as decimal point (``"3.85"``); ``""`` -> NaN."""
    text = _stripped(text)
    empty, valid = text == "", _matching(text, _DECIMAL)
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    values[valid] = text[valid].astype("float64")
    errors = _messages(
        text[~valid & ~empty],
        lambda cell: f"{_where(column)}{cell} is not a decimal number like '3.85'",
    )
    return values, errors


def parse_decimal(text: str, column: str = "") -> float:
    """A plain decimal number with ``.`` as decimal point (``"3.85"``); ``""`` -> NaN."""
    return float(_one(decimals(_cell(text), column)))


def _month_starts(year: pd.Series, month: pd.Series, valid: pd.Series) -> pd.Series:
    """First days of the months ``year``-``month`` where ``valid`` (NaT elsewhere)."""
    months = pd.Series(pd.NaT, index=year.index, dtype="datetime64[ns]")
    if valid.any():
        parts = pd.DataFrame({"year": year[valid], "month": month[valid], "day": 1})
        months[valid] = pd.to_datetime(parts).astype("datetime64[ns]")
    return months


def _year_numbers(year: pd.Series) -> pd.Series:
    """The years as integers (0 where not 4 digits)."""
    four = _matching(year, _YEAR)
    return year.where(four, "0").astype("int64")


def spanish_months(year: pd.Series, month_name: pd.Series) -> Parsed:
    """``("2020", "Abr")`` -> 2020-04-01 for each row; bad years or month names get a message."""
    year, month_name = _stripped(year), _stripped(month_name)
    number = month_name.str.capitalize().map(SPANISH_MONTHS)
    years = _year_numbers(year)
    bad_year = ~years.between(*YEARS)
    bad_name = ~bad_year & number.isna()
    valid = ~bad_year & ~bad_name
    shown = year.map(repr) + " " + month_name.map(repr)
    errors = _errors(
        (
            f"{MALFORMED_PERIOD} "
            + shown[bad_year]
            + f": year is not 4 digits from {YEARS[0]} to {YEARS[1]}"
        ),
        (
            f"{MALFORMED_PERIOD} "
            + shown[bad_name]
            + f": unknown Spanish month name (expected one of {', '.join(SPANISH_MONTHS)})"
        ),
    )
    months = _month_starts(years, number.where(valid, 1).astype("int64"), valid)
    return months, errors


def parse_spanish_month(year: str, month_name: str) -> pd.Timestamp:
    """``("2020", "Abr")`` -> 2020-04-01; unknown names or years raise ``CleaningError``."""
    return _one(spanish_months(_cell(year), _cell(month_name)))


def month_starts(text: pd.Series) -> Parsed:
    """``"2013-03-01"`` or ``"2013-03-01 00:00:00 UTC"`` -> 2013-03-01 for each cell."""
    text = _stripped(text)
    parts = text.str.extract(f"^{_DATE.pattern}$").fillna("0").astype("int64")
    year, month, day = parts[0], parts[1], parts[2]
    valid = _matching(text, _DATE) & year.between(*YEARS) & month.between(1, 12) & (day == 1)
    errors = f"{MALFORMED_PERIOD} " + text[~valid].map(repr)
    return _month_starts(year, month.where(valid, 1), valid), errors


def parse_month_start(text: str) -> pd.Timestamp:
    """``"2013-03-01"`` or ``"2013-03-01 00:00:00 UTC"`` -> 2013-03-01 (naive month start)."""
    return _one(month_starts(_cell(text)))


def _log(file: str, rows: pd.Index, values: pd.Series, reasons: pd.Series | str) -> pd.DataFrame:
    """Log entries: ``file``, the CSV lines ``rows``, the values shown, the reasons."""
    return pd.DataFrame(
        {
            "file": file,
            "row": np.asarray(rows, dtype="int64"),
            "value": np.asarray(values, dtype="object"),
            "reason": np.asarray(reasons, dtype="object")
            if not isinstance(reasons, str)
            else reasons,
        },
        columns=DROPPED_COLUMNS,
    )


def _dropped_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    found = [part for part in parts if len(part)]
    frame = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=DROPPED_COLUMNS)
    return frame.astype({"file": "str", "row": "int64", "value": "str", "reason": "str"})


def _text_columns(raw: pd.DataFrame, file: str, columns: Sequence[str]) -> pd.DataFrame:
    """The given columns as stripped strings (missing cells as ``""``), lines as the index."""
    missing = [column for column in columns if column not in raw.columns]
    if missing:
        raise CleaningError(f"{file}: missing column(s) {', '.join(map(repr, missing))}")
    text = pd.DataFrame({column: _stripped(raw[column]) for column in columns})
    text.index = pd.RangeIndex(2, len(raw) + 2, name="row")  # header is line 1
    return text


def _periods(
    text: pd.DataFrame,
    file: str,
    parse: Callable[[pd.DataFrame], Parsed],
    shown: Callable[[pd.DataFrame], pd.Series],
    months: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Rows with a valid, unique period (sorted, within ``months``) and the log of the others."""
    parsed, errors = parse(text)
    log = [_log(file, errors.index, shown(text.loc[errors.index]), errors)]
    kept = text[parsed.notna()].assign(**{MONTH: parsed[parsed.notna()]})

    duplicate = kept[MONTH].duplicated(keep="first")
    if duplicate.any():
        lines = pd.Series(kept.index, index=kept.index)
        first = lines.groupby(kept[MONTH]).transform("first")[duplicate]
        columns = list(text.columns)
        same = (kept.loc[duplicate, columns].to_numpy() == kept.loc[first, columns].to_numpy()).all(
            axis=1
        )
        reasons = (
            f"{DUPLICATE_PERIOD} "
            + kept.loc[duplicate, MONTH].dt.strftime("%Y-%m")
            + ": kept the first row (line "
            + first.astype(str)
            + "), "
            + np.where(same, "identical to it", "its values differ")
        )
        log.append(_log(file, reasons.index, shown(kept[duplicate]), reasons))
    kept = kept[~duplicate].sort_values(MONTH, kind="stable")

    if months is not None:
        first_month, last_month = months
        for outside, reason in [
            (kept[MONTH] < first_month, f"{BEFORE_RANGE} {first_month:%Y-%m}"),
            (kept[MONTH] > last_month, f"{AFTER_RANGE} {last_month:%Y-%m}"),
        ]:
            log.append(_log(file, kept.index[outside], shown(kept[outside]), reason))
        kept = kept[kept[MONTH].between(first_month, last_month)]
    return kept, log


def _parse_cells(
    kept: pd.DataFrame,
    file: str,
    columns: dict[str, str],
    parse: Callable[[pd.Series, str], Parsed],
    consequence: str = "left missing",
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """Parse each cell of ``columns`` (source -> clean name); unreadable cells -> NaN, logged."""
    log = []
    clean = pd.DataFrame({MONTH: kept[MONTH]})
    for source, name in columns.items():
        values, errors = parse(kept[source], name)
        clean[name] = values.to_numpy(dtype="float64")
        reasons = f"{UNREADABLE_VALUE}: " + errors + f"; {consequence}"
        log.append(_log(file, errors.index, kept.loc[errors.index, source], reasons))
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
        parse=lambda table: spanish_months(table[YEAR], table[MONTH_NAME]),
        shown=lambda table: table[YEAR] + " " + table[MONTH_NAME],
        months=months,
    )
    clean, cell_log = _parse_cells(kept, PRICE_FILE, {PRICE: PRICE_COLUMN}, decimals, "row dropped")
    empty = kept.index[kept[PRICE] == ""]
    log.append(_log(PRICE_FILE, empty, pd.Series("", index=empty), f"{MISSING_PRICE}: row dropped"))
    clean = clean[clean[PRICE_COLUMN].notna()].reset_index(drop=True)
    return clean, _dropped_frame(log + cell_log)


def _dated_periods(
    text: pd.DataFrame,
    file: str,
    column: str,
    months: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> tuple[pd.DataFrame, list[pd.DataFrame]]:
    """``_periods`` of a table whose month is a date in ``column`` (``YYYY-MM-01 ...``)."""
    return _periods(
        text,
        file,
        parse=lambda table: month_starts(table[column]),
        shown=lambda table: table[column],
        months=months,
    )


def parse_rainfall_table(
    raw: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``precipitaciones.csv`` (date + 8 regions, unsorted) -> (month + RAIN_COLUMNS, dropped)."""
    text = _text_columns(raw, RAIN_FILE, [RAIN_DATE, *RAIN_SOURCE_COLUMNS])
    kept, log = _dated_periods(text, RAIN_FILE, RAIN_DATE, months)
    clean, cell_log = _parse_cells(kept, RAIN_FILE, RAIN_SOURCE_COLUMNS, decimals)
    return clean, _dropped_frame(log + cell_log)


def lost_zero_factors(digits: pd.Series) -> pd.Series:
    """Per cell of one ``PIB_*`` series, the power of ten that restores its lost zeros.

    ``digits``: the number of significant digits of each cell (0 for an empty cell or a
    zero). The data README's rule: a value with fewer digits than the series' most common
    digit count (the larger one on a tie) is multiplied by the power of ten that restores
    that count; every other cell gets 1.
    """
    counted = digits[digits > 0]
    factors = pd.Series(1, index=digits.index, dtype="int64")
    if counted.empty:
        return factors
    frequency = counted.value_counts()
    usual = int(frequency[frequency == frequency.max()].index.max())
    short = counted[counted < usual]
    factors[short.index] = 10 ** (usual - short).astype("int64")
    return factors


def _rescaled_frame(parts: list[pd.DataFrame]) -> pd.DataFrame:
    found = [part for part in parts if len(part)]
    if not found:
        return pd.DataFrame({name: pd.Series(dtype=kind) for name, kind in RESCALED_TYPES.items()})
    return pd.concat(found, ignore_index=True).astype(RESCALED_TYPES)


def restore_lost_zeros(
    kept: pd.DataFrame, clean: pd.DataFrame, columns: Sequence[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``clean`` with the ``PIB_*`` cells that lost trailing zeros rescaled, and the list of them.

    ``kept``: the raw text of the same rows (CSV lines as index), ``columns``: the source
    columns, rescaled into their lower-case clean columns (see ``lost_zero_factors``).
    """
    clean = clean.copy()
    parts = []
    for source in columns:
        name = source.lower()
        digits = kept[source].str.replace(".", "", regex=False).str.lstrip("0").str.len()
        digits = digits.where(clean[name].notna().to_numpy(), 0)
        factors = lost_zero_factors(digits)
        rescaled = (factors > 1).to_numpy()
        if not rescaled.any():
            continue
        clean.loc[rescaled, name] = clean.loc[rescaled, name] * factors[rescaled].to_numpy()
        parts.append(
            pd.DataFrame(
                {
                    "file": BANK_FILE,
                    "row": kept.index[rescaled],
                    MONTH: clean.loc[rescaled, MONTH].to_numpy(),
                    "column": source,
                    "value": kept.loc[rescaled, source].to_numpy(),
                    "factor": factors[rescaled].to_numpy(),
                    "rescaled": clean.loc[rescaled, name].to_numpy(),
                }
            )
        )
    return clean, _rescaled_frame(parts)


def check_rescaled_cells(rescaled: pd.DataFrame, monthly: pd.DataFrame, path: Path | str) -> None:
    """The rescaled cells as written to ``path``: their columns, powers of ten above 1, and
    each cell's rescaled value being the one in the monthly table; else ``StageOutputError``.
    """
    checks.check_columns(rescaled, path, RESCALED_COLUMNS)
    checks.check_no_nan(rescaled, path, RESCALED_COLUMNS)
    factors = rescaled["factor"]
    if len(rescaled) and not (factors >= 10).all():
        raise StageOutputError(f"{path}: a factor below 10: {factors.min()}")
    if not np.allclose(np.log10(factors.astype(float)) % 1, 0):
        raise StageOutputError(f"{path}: a factor that is not a power of ten")
    clean = monthly.set_index(MONTH)
    for cell in rescaled.itertuples(index=False):
        name = cell.column.lower()
        if name not in clean.columns or cell.month not in clean.index:
            raise StageOutputError(f"{path}: {cell.column} {cell.month:%Y-%m} is not in the table")
        if clean.at[cell.month, name] != cell.rescaled:
            raise StageOutputError(
                f"{path}: {cell.column} {cell.month:%Y-%m} is {clean.at[cell.month, name]} "
                f"in the monthly table, not the rescaled {cell.rescaled}"
            )


def parse_central_bank_table(
    raw: pd.DataFrame, months: tuple[pd.Timestamp, pd.Timestamp] | None = None
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``banco_central.csv`` -> (month + BANK_COLUMNS, dropped rows, rescaled cells).

    ``Periodo`` like ``2013-03-01 00:00:00 UTC``; malformed periods are dropped, duplicated
    periods keep their first row, rows are sorted. Indices go through ``index_values``,
    the ``PIB*`` series through ``dotted_integers`` and then ``restore_lost_zeros``.
    """
    text = _text_columns(raw, BANK_FILE, [BANK_PERIOD, *BANK_SERIES])
    kept, log = _dated_periods(text, BANK_FILE, BANK_PERIOD, months)
    indices, index_log = _parse_cells(
        kept, BANK_FILE, {c: c.lower() for c in INDEX_SOURCE_COLUMNS}, index_values
    )
    gdp, gdp_log = _parse_cells(
        kept, BANK_FILE, {c: c.lower() for c in PIB_COLUMNS}, dotted_integers
    )
    gdp, rescaled = restore_lost_zeros(kept, gdp, PIB_COLUMNS)
    clean = pd.concat([indices, gdp.drop(columns=MONTH)], axis=1)[[MONTH, *BANK_COLUMNS]]
    return clean, _dropped_frame(log + index_log + gdp_log), rescaled


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
    bank, bank_dropped, rescaled = parse_central_bank_table(raw[BANK_FILE], months)
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
