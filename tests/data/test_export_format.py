"""Numbers written in the raw export's broken formats read back through the cell parsers."""

from __future__ import annotations

import pandas as pd
import pytest

from milk_forecast.data.export_format import (
    broken_integer,
    broken_number,
    lost_zeros_integer,
    plain_number,
)
from milk_forecast.data.parsing import dotted_integers, index_values


def read(parse, text: str) -> float:
    values, errors = parse(pd.Series([text]), "column")
    assert errors.empty
    return float(values[0])


@pytest.mark.parametrize(
    ("value", "text"),
    [(102.796218, "102.796.218"), (97.8554365, "978.554.365"), (105.46824, "10.546.824")],
)
def test_an_index_loses_its_decimal_point_and_reads_back(value: float, text: str) -> None:
    assert broken_number(value) == text
    assert read(index_values, text) == pytest.approx(value)


def test_a_large_integer_keeps_every_digit() -> None:
    assert broken_integer(579846819) == "579.846.819"
    assert read(dotted_integers, broken_integer(579846810)) == 579846811


def test_an_integer_can_lose_its_trailing_zeros() -> None:
    assert lost_zeros_integer(550593262, 1) == "55.059.326"
    assert read(dotted_integers, lost_zeros_integer(550593262, 1)) * 10 == 550593260


def test_plain_numbers_drop_trailing_zeros() -> None:
    assert [plain_number(v, 6) for v in (0.0, 12.5, 3.1234567)] == ["0", "12.5", "3.123457"]
