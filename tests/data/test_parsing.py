"""The cell parsers of the raw formats: numbers with lost decimal points, Spanish months, dates."""

from __future__ import annotations

import math
import re

import pandas as pd
import pytest

from milk_forecast.data.parsing import (
    MALFORMED_PERIOD,
    SPANISH_MONTHS,
    decimals,
    dotted_integers,
    index_values,
    month_starts,
    spanish_months,
)


def one(parse, text: str) -> float:
    """The value a column parser reads from one cell (failing the test on an error)."""
    values, errors = parse(pd.Series([text]), "column")
    assert errors.empty, errors.tolist()
    return float(values[0])


def test_spanish_months_cover_the_year():
    assert SPANISH_MONTHS["Ene"] == 1
    assert SPANISH_MONTHS["Ago"] == 8
    assert SPANISH_MONTHS["Dic"] == 12
    assert sorted(SPANISH_MONTHS.values()) == list(range(1, 13))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("579.846.819", 579846819.0), ("5.691.837", 5691837.0), ("12", 12.0)],
)
def test_dotted_integers_drop_the_dots(text, expected):
    assert one(dotted_integers, text) == expected


def test_an_empty_cell_is_nan_not_an_error():
    for parse in (dotted_integers, index_values, decimals):
        assert math.isnan(one(parse, ""))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("102.796.218", 102.796218),
        ("978.554.365", 97.8554365),
        ("10.546.824", 105.46824),
        ("5.296.994", 52.96994),
        ("756.372", 75.6372),
        ("100.948", 100.948),
    ],
)
def test_index_values_recover_the_decimal_point(text, expected):
    assert one(index_values, text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("parse", [dotted_integers, index_values, decimals])
@pytest.mark.parametrize("garbage", ["a", "1,5", "12a.000", "-3.000.1"])
def test_garbage_is_nan_with_a_message_naming_column_and_value(parse, garbage):
    values, errors = parse(pd.Series([garbage, "12"]), "imacec_minero")
    assert math.isnan(values[0]) and errors.index.tolist() == [0]
    assert re.search(rf"'imacec_minero'.*{re.escape(repr(garbage))}", errors[0])


@pytest.mark.parametrize(
    ("year", "name", "expected"),
    [("2020", "Abr", "2020-04-01"), (" 1979", "ene ", "1979-01-01"), ("2020", "Xyz", None),
     ("20", "Ene", None), ("9999", "Ene", None)],
)  # fmt: skip
def test_spanish_months(year, name, expected):
    months, errors = spanish_months(pd.Series([year]), pd.Series([name]))
    if expected is None:
        assert pd.isna(months[0]) and errors[0].startswith(MALFORMED_PERIOD)
    else:
        assert months[0] == pd.Timestamp(expected) and errors.empty


@pytest.mark.parametrize(
    ("text", "expected"),
    [("2013-03-01 00:00:00 UTC", "2013-03-01"), ("2013-03-01", "2013-03-01"),
     ("2020-13-01 00:00:00 UTC", None), ("2013-03-02", None), ("March 2013", None)],
)  # fmt: skip
def test_month_starts(text, expected):
    months, errors = month_starts(pd.Series([text]))
    if expected is None:
        assert pd.isna(months[0]) and errors[0] == f"{MALFORMED_PERIOD} {text!r}"
    else:
        assert months[0] == pd.Timestamp(expected) and errors.empty
