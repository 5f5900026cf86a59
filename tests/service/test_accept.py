"""Content negotiation of GET /: browsers get the page, API clients JSON."""

from __future__ import annotations

import pytest

from milk_forecast.service.accept import prefers_html

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


def test_a_huge_header_is_read_only_so_far() -> None:
    """Ranges past the first 32 are ignored: text/html at the end of 1000 does not count."""
    assert not prefers_html(", ".join(["image/png"] * 1000 + ["text/html"]))
