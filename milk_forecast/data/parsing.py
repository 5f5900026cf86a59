"""Reading the cells of the raw tables: the number formats and the periods, column-wise.

Each parser takes a column of strings (as in the CSV) and returns ``Parsed``: the values
(NaN / NaT where a cell cannot be read) and, for each unreadable cell, a message naming the
column and quoting the cell (a Series indexed like those cells). Its cost grows linearly
with the rows. Messages about periods start with ``MALFORMED_PERIOD``.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd

from milk_forecast.data.columns import MONTH_NAMES

SPANISH_MONTHS = {name: number for number, name in enumerate(MONTH_NAMES, start=1)}
MALFORMED_PERIOD = "malformed period"
_DOTTED_DIGITS = re.compile(r"[0-9]+(?:\.[0-9]+)*")
_DECIMAL = re.compile(r"-?[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})(?: 00:00:00(?: UTC)?)?")
_YEAR = re.compile(r"[0-9]{4}")
# The years a month can have in a datetime64[ns] column.
YEARS = (pd.Timestamp.min.year + 1, pd.Timestamp.max.year - 1)

Parsed = tuple[pd.Series, pd.Series]


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


def dotted_integers(text: pd.Series, column: str = "") -> Parsed:
    """``"579.846.819"`` -> 579846819.0 for each cell: the dots are dropped; ``""`` -> NaN.

    The data README's rule for the ``PIB*`` series, applied literally: a cell that kept its
    decimal point (``"1358.56"``) also loses it (135856.0), as in the prototype. Cells that
    also lost trailing zeros are rescaled afterwards (``lost_zeros``).
    """
    text = _stripped(text)
    empty, valid = text == "", _matching(text, _DOTTED_DIGITS)
    values = pd.Series(np.nan, index=text.index, dtype="float64")
    values[valid] = text[valid].str.replace(".", "", regex=False).astype("float64")
    errors = _messages(
        text[~valid & ~empty],
        lambda cell: f"{_where(column)}{cell} is not a dotted integer like '579.846.819'",
    )
    return values, errors


def index_values(text: pd.Series, column: str = "") -> Parsed:
    """Indices living roughly in 30..130 whose decimal point was lost; ``""`` -> NaN.

    The digits are right: the decimal point goes after 3 digits when they start with
    ``1`` (100..199.99), else after 2 (20..99.99): ``"102.796.218"`` -> 102.796218,
    ``"978.554.365"`` -> 97.8554365, ``"10.546.824"`` -> 105.46824.
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


def month_starts(text: pd.Series) -> Parsed:
    """``"2013-03-01"`` or ``"2013-03-01 00:00:00 UTC"`` -> 2013-03-01 for each cell."""
    text = _stripped(text)
    parts = text.str.extract(f"^{_DATE.pattern}$").fillna("0").astype("int64")
    year, month, day = parts[0], parts[1], parts[2]
    valid = _matching(text, _DATE) & year.between(*YEARS) & month.between(1, 12) & (day == 1)
    errors = f"{MALFORMED_PERIOD} " + text[~valid].map(repr)
    return _month_starts(year, month.where(valid, 1), valid), errors
