"""What the answers share: parameters, encoding, bounded values, the error shape, and content
negotiation of GET / (browsers get the page, API clients JSON)."""

from __future__ import annotations

from typing import Any

import pytest

from milk_forecast.service import answers
from milk_forecast.service.answers import ApiError, parse_int, prefers_html


@pytest.mark.parametrize(
    ("text", "expected"), [("1", 1), ("12", 12), ("07", 7), ("00000003", 3), ("0" * 40 + "9", 9)]
)
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
        (["a\x00b\nc\x1b[31m" + "x" * 500], "not an integer from 1 to 12"),
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
    assert error["message"].isprintable()  # nor its control characters


def test_dumps_is_compact_utf8_json() -> None:
    assert answers.dumps({"a": [1.5, "año"]}) == '{"a":[1.5,"año"]}'.encode()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (330.1824, 330.18),
        (330.185001, 330.19),
        (None, None),
        (2.0, 2.0),
        (7, 7),
        (
            {"rmse": [6.7349, {"mae": 4.6538}], "model": "m"},
            {"rmse": [6.73, {"mae": 4.65}], "model": "m"},
        ),
    ],
)
def test_rounded_rounds_every_float_to_cents(value: Any, expected: Any) -> None:
    assert answers.rounded(value) == expected


def test_prices_rounded_rounds_prices_and_errors_in_clp_only() -> None:
    metrics = {
        "headline": {"rmse_clp_per_l": 6.733294876750234, "r2": 0.9151234567},
        "path": [{"predicted_clp_per_l": 330.18240958, "horizon": 1}],
        "widths_clp_per_l": [9.87654, None],
        "coverage": 0.7466666,
    }
    assert answers.prices_rounded(metrics) == {
        "headline": {"rmse_clp_per_l": 6.73, "r2": 0.9151234567},
        "path": [{"predicted_clp_per_l": 330.18, "horizon": 1}],
        "widths_clp_per_l": [9.88, None],
        "coverage": 0.7466666,
    }


def test_flat_object_keeps_bounded_scalars_only_and_rounds_fractions() -> None:
    value = {"rmse": 6.733294876750234, "model": "m" * 5000, "nested": {"a": 1}, "list": [1]}
    long_text = "m" * (answers.MAX_TEXT - 3) + "..."
    expected = {"rmse": 6.73, "model": long_text, "ok": None, "runs": 3}
    assert answers.flat_object(value | {"ok": None, "runs": 3}) == expected
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


BROWSERS = [
    # Chromium / Chrome
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,"
    "image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7",
    # Firefox
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    # Safari
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
]


@pytest.mark.parametrize("accept", BROWSERS)
def test_a_browser_gets_html(accept: str) -> None:
    assert prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/json",
        "application/json, text/html",  # a tie: JSON, the API's answer
        "text/html;q=0.5, application/json",
        "text/html;q=0, */*",  # the specific range's q=0 wins over */*
        "application/*, text/html;q=0.9",
        "text/html;q=nonsense",  # an unreadable weight counts as 0
        "text/html;q=2",  # out of range: 0
        "garbage",
    ],
)
def test_api_clients_and_ties_get_json(accept: str | None) -> None:
    assert not prefers_html(accept)


@pytest.mark.parametrize(
    "accept",
    [
        "application/json;q=0.5, text/html",
        "text/*",
        "TEXT/HTML",
        "text/html;level=1;q=0.9, */*;q=0.1",
        "application/json;q=0.1, text/*;q=0.2",
    ],
)
def test_html_weighed_above_json_gets_html(accept: str) -> None:
    assert prefers_html(accept)


def test_only_the_first_kilobyte_of_a_huge_header_is_read() -> None:
    junk = ", ".join(["image/png"] * 200)  # 2 kB
    assert prefers_html(f"text/html, {junk}") and not prefers_html(f"{junk}, text/html")
    accept = "text/html;q=0.9;" + "x=y;" * 4000  # 16 kB in one range: its first kB is read
    assert prefers_html(accept)


def test_a_huge_header_is_read_only_so_far() -> None:
    """Ranges past the first 32 are ignored: text/html at the end of 1000 does not count."""
    assert not prefers_html(", ".join(["image/png"] * 1000 + ["text/html"]))
