"""Reading the cells of the raw tables, column-wise: the number formats and the periods.

Each parser takes a column of strings (as in the CSV) and returns ``Parsed``: the values
(NaN / NaT where a cell cannot be read) and, for each unreadable cell, a message naming the
column and quoting the cell (a Series indexed like those cells). Messages about periods
start with ``MALFORMED_PERIOD``."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milk_forecast.data.columns import MONTH_NAMES

SPANISH_MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}
MALFORMED_PERIOD = "malformed period"
DOTTED_DIGITS = r"[0-9]+(?:\.[0-9]+)*"
DECIMAL = r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
DATE = r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?: 00:00:00(?: UTC)?)?"
# The years a month can have in a datetime64[ns] column.
YEARS = (pd.Timestamp.min.year + 1, pd.Timestamp.max.year - 1)

Parsed = tuple[pd.Series, pd.Series]


def stripped(text: pd.Series) -> pd.Series:
    """The cells as stripped strings, a missing cell as ``""``."""
    return text.fillna("").astype(str).str.strip()


def _matching(text: pd.Series, pattern: str) -> pd.Series:
    return text.str.fullmatch(pattern).fillna(False).astype(bool)


def _messages(cells: pd.Series, column: str, problem: str) -> pd.Series:
    """``column 'x': '12a' <problem>`` for each of ``cells``, indexed like them."""
    shown = [f"column {column!r}: {cell!r} {problem}" for cell in cells]
    return pd.Series(shown, index=cells.index, dtype="object")


def _errors(*parts: pd.Series) -> pd.Series:
    found = [part for part in parts if len(part)]
    return pd.concat(found).sort_index() if found else pd.Series([], dtype="object")


def _numbers(text: pd.Series, column: str, pattern: str, like: str) -> tuple[pd.Series, pd.Series]:
    """The stripped cells that match ``pattern`` (NaN elsewhere), and a message for every
    other non-empty cell."""
    text = stripped(text)
    valid = _matching(text, pattern)
    errors = _messages(text[~valid & (text != "")], column, f"is not {like}")
    return text.where(valid), errors


def dotted_integers(text: pd.Series, column: str) -> Parsed:
    """``"579.846.819"`` -> 579846819.0 for each cell: the dots are dropped; ``""`` -> NaN.

    The data README's rule for the ``PIB*`` series, applied literally: a cell that kept its
    decimal point (``"1358.56"``) also loses it (135856.0), as in the prototype. Cells that
    also lost trailing zeros are rescaled afterwards (``lost_zeros``).
    """
    cells, errors = _numbers(text, column, DOTTED_DIGITS, "a dotted integer like '579.846.819'")
    return cells.str.replace(".", "", regex=False).astype("float64"), errors


def index_values(text: pd.Series, column: str) -> Parsed:
    """Indices living roughly in 30..130 whose decimal point was lost; ``""`` -> NaN.

    The digits are right: the decimal point goes after 3 digits when they start with
    ``1`` (100..199.99), else after 2 (20..99.99): ``"102.796.218"`` -> 102.796218,
    ``"978.554.365"`` -> 97.8554365, ``"10.546.824"`` -> 105.46824.
    """
    cells, errors = _numbers(text, column, DOTTED_DIGITS, "an index like '102.796.218'")
    digits = cells.dropna().str.replace(".", "", regex=False)
    zero = digits.str.startswith("0")
    good = digits[~zero]
    integer_digits = np.where(good.str.startswith("1"), 3, 2)
    values = pd.Series(np.nan, index=cells.index, dtype="float64")
    values[good.index] = good.astype("float64") / 10.0 ** (good.str.len() - integer_digits)
    zero_first = _messages(cells[zero.index[zero]], column, "starts with 0: not a plausible index")
    return values, _errors(errors, zero_first)


def decimals(text: pd.Series, column: str) -> Parsed:
    """Plain decimal numbers with ``.`` as decimal point (``"3.85"``); ``""`` -> NaN."""
    cells, errors = _numbers(text, column, DECIMAL, "a decimal number like '3.85'")
    return cells.astype("float64"), errors


def _month_starts(year: pd.Series, month: pd.Series, valid: pd.Series) -> pd.Series:
    """First days of the months ``year``-``month`` where ``valid`` (NaT elsewhere)."""
    months = pd.Series(pd.NaT, index=year.index, dtype="datetime64[ns]")
    if valid.any():
        parts = pd.DataFrame({"year": year[valid], "month": month[valid], "day": 1})
        months[valid] = pd.to_datetime(parts).astype("datetime64[ns]")
    return months


def spanish_months(year: pd.Series, month_name: pd.Series) -> Parsed:
    """``("2020", "Abr")`` -> 2020-04-01 for each row; bad years or month names get a message."""
    year, month_name = stripped(year), stripped(month_name)
    number = month_name.str.capitalize().map(SPANISH_MONTHS)
    years = year.where(_matching(year, "[0-9]{4}"), "0").astype("int64")
    bad_year = ~years.between(*YEARS)
    bad_name = ~bad_year & number.isna()
    valid = ~bad_year & ~bad_name
    shown = f"{MALFORMED_PERIOD} " + year.map(repr) + " " + month_name.map(repr)
    errors = _errors(
        shown[bad_year] + f": year is not 4 digits from {YEARS[0]} to {YEARS[1]}",
        shown[bad_name]
        + f": unknown Spanish month name (expected one of {', '.join(SPANISH_MONTHS)})",
    )
    return _month_starts(years, number.where(valid, 1).astype("int64"), valid), errors


def month_starts(text: pd.Series) -> Parsed:
    """``"2013-03-01"`` or ``"2013-03-01 00:00:00 UTC"`` -> 2013-03-01 for each cell."""
    text = stripped(text)
    parts = text.str.extract(f"^{DATE}$").fillna("0").astype("int64")
    year, month, day = parts[0], parts[1], parts[2]
    valid = _matching(text, DATE) & year.between(*YEARS) & month.between(1, 12) & (day == 1)
    errors = f"{MALFORMED_PERIOD} " + text[~valid].map(repr)
    return _month_starts(year, month.where(valid, 1), valid), errors
