"""What the JSON answers share: parameters, encoding, bounded values, the error shape."""

from __future__ import annotations

import json

import pytest

from milk_forecast.service import answers
from milk_forecast.service.answers import ApiError, parse_int


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("12", 12), ("07", 7)])
def test_parse_int_accepts_integers_in_range(text: str, expected: int) -> None:
    assert parse_int("month", [text], 1, 12) == expected


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], "month is missing"),
        (["1", "2"], "given 2 times"),
        (["abc"], "'abc' is not an integer from 1 to 12"),
        (["1.0"], "not an integer"),
        ([" 1"], "not an integer"),
        (["+1"], "not an integer"),
        (["1_0"], "not an integer"),
        (["\u0661"], "not an integer"),  # ARABIC-INDIC DIGIT ONE: int() would accept it
        ([""], "not an integer"),
        (["0"], "'0' is not an integer from 1 to 12"),
        (["13"], "not an integer from 1 to 12"),
        (["-1"], "not an integer from 1 to 12"),
        (["9" * 5000], "not an integer from 1 to 12"),
    ],
)
def test_parse_int_rejects_with_a_422_naming_the_parameter(values: list, problem: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_int("month", values, 1, 12)
    error = caught.value.payload()["error"]
    assert (error["status"], error["code"]) == (422, "invalid_parameter")
    assert (error["parameter"], error["allowed"]) == ("month", "integer from 1 to 12")
    assert problem in error["message"]
    assert len(error["message"]) < 200  # a huge value is not echoed back in full


def test_dumps_turns_nan_and_infinity_into_null() -> None:
    payload = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -float("inf")}}
    assert json.loads(answers.dumps(payload)) == {"a": None, "b": [1.5, None], "c": {"d": None}}


def test_echo_shortens_and_strips_control_characters() -> None:
    echoed = answers.echo("a\x00b\nc\x1b[31m" + "x" * 500)
    assert echoed.startswith("a?b?c?[31m") and echoed.endswith("...") and len(echoed) <= 43


def test_flat_object_keeps_bounded_scalars_only() -> None:
    value = {"rmse": 6.7, "model": "m" * 5000, "nested": {"a": 1}, "list": [1], "ok": None}
    long_text = "m" * (answers.MAX_TEXT - 3) + "..."
    assert answers.flat_object(value) == {"rmse": 6.7, "model": long_text, "ok": None}
    assert answers.flat_object([1, 2]) is None
    assert len(answers.flat_object({str(n): n for n in range(500)})) == answers.MAX_KEYS


def test_mapping_reads_nested_objects_and_nothing_else() -> None:
    assert answers.mapping({"a": {"b": 1}}, "a") == {"b": 1}
    assert answers.mapping({"a": [1]}, "a") == {} == answers.mapping([1], "a")


def test_a_run_id_that_is_not_one_is_a_404() -> None:
    answers.check_run_id("20261127T120301Z")
    with pytest.raises(ApiError) as caught:
        answers.check_run_id("../../etc")
    assert (caught.value.status, caught.value.code) == (404, "unknown_run")
