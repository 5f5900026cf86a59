from __future__ import annotations

import json

import pytest

from milk_forecast.service import serving

# --- parameters and JSON -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("12", 12), ("07", 7)])
def test_parse_int_param_accepts_integers_in_range(text: str, expected: int) -> None:
    assert serving.parse_int_param("month", [text], 1, 12) == expected


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], "is missing"),
        (["1", "2"], "given 2 times"),
        (["abc"], "not an integer"),
        (["1.0"], "not an integer"),
        ([" 1"], "not an integer"),
        (["+1"], "not an integer"),
        (["1_0"], "not an integer"),
        (["\u0661"], "not an integer"),  # ARABIC-INDIC DIGIT ONE: int() would accept it
        ([""], "not an integer"),
        (["0"], "out of range"),
        (["13"], "out of range"),
        (["-1"], "out of range"),
        (["9" * 5000], "out of range"),
    ],
)
def test_parse_int_param_rejects_with_422_naming_the_parameter(
    values: list[str], problem: str
) -> None:
    with pytest.raises(serving.ApiError) as caught:
        serving.parse_int_param("month", values, 1, 12)
    error = caught.value.payload()["error"]
    assert error["status"] == 422
    assert error["parameter"] == "month"
    assert error["allowed"] == "integer from 1 to 12"
    assert problem in error["message"]
    assert len(error["message"]) < 200  # a huge value is not echoed back in full


def test_dumps_turns_nan_and_infinity_into_null() -> None:
    payload = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -float("inf")}}
    assert json.loads(serving.dumps(payload)) == {"a": None, "b": [1.5, None], "c": {"d": None}}


@pytest.mark.parametrize(
    ("value", "expected"), [(330.1824, 330.18), (330.185001, 330.19), (None, None), (2.0, 2.0)]
)
def test_price_is_rounded_to_cents(value: float | None, expected: float | None) -> None:
    assert serving.price(value) == expected


def test_echo_shortens_and_strips_control_characters() -> None:
    echoed = serving.echo("a\x00b\nc\x1b[31m" + "x" * 500)
    assert echoed.startswith("a?b?c?[31m") and echoed.endswith("...")
    assert len(echoed) <= serving.MAX_ECHO + 3


def test_flat_object_keeps_bounded_scalars_only() -> None:
    value = {"rmse": 6.7, "model": "m" * 5000, "nested": {"a": 1}, "list": [1], "ok": None}
    assert serving.flat_object(value) == {
        "rmse": 6.7,
        "model": "m" * (serving.MAX_TEXT - 3) + "...",
        "ok": None,
    }
    assert serving.flat_object([1, 2]) is None
    assert len(serving.flat_object({str(n): n for n in range(500)})) == serving.MAX_KEYS
