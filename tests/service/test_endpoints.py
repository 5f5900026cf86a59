"""What the endpoints share: the pacing of the cold routes, the settings, the OpenAPI document
(tests/test_app.py checks real responses against it)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from milk_forecast.run_folder.layout import RUN_ID_PATTERN
from milk_forecast.service import endpoints
from milk_forecast.service.answers import SERVICE_NAME, ApiError
from milk_forecast.service.endpoints import OPENAPI, Pacer


def test_requests_within_the_rate_do_not_wait() -> None:
    now = [0.0]
    pacer = Pacer(rate=10, clock=lambda: now[0])
    for _ in range(5):
        assert pacer.delay() == 0
        now[0] += 0.1


def test_a_burst_waits_for_its_turns_then_is_refused_with_a_429() -> None:
    pacer = Pacer(rate=10, max_wait=1.0, clock=lambda: 0.0)
    assert [pacer.delay() for _ in range(11)] == pytest.approx([n / 10 for n in range(11)])
    with pytest.raises(ApiError) as caught:
        pacer.delay()
    assert caught.value.status == 429 and "retry in 1.1 s" in caught.value.message


def test_a_refused_request_takes_no_turn_and_the_budget_comes_back() -> None:
    now = [0.0]
    pacer = Pacer(rate=1, max_wait=0.5, clock=lambda: now[0])
    assert pacer.delay() == 0
    with pytest.raises(ApiError):
        pacer.delay()
    now[0] += 1.0
    assert pacer.delay() == 0


def test_rate_zero_never_waits() -> None:
    pacer = Pacer(rate=0, clock=lambda: 0.0)
    assert [pacer.delay() for _ in range(1000)] == [0.0] * 1000


@pytest.mark.parametrize("value", ["x", "-1", "inf", "nan", ""])
def test_a_bad_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HISTORY_RATE", value)
    with pytest.raises(ValueError, match="HISTORY_RATE="):
        endpoints.setting("HISTORY_RATE", 50.0)


def test_a_setting_defaults_and_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HISTORY_RATE", raising=False)
    assert endpoints.setting("HISTORY_RATE", 50.0) == 50.0
    monkeypatch.setenv("HISTORY_RATE", "0.5")
    assert endpoints.setting("HISTORY_RATE", 50.0) == 0.5


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    validate(OPENAPI)
    assert OPENAPI["openapi"] == "3.1.0"


def test_the_openapi_document_agrees_with_the_code() -> None:
    """The values the document repeats from the code: one of them changed alone fails here."""
    schemas, parameters = OPENAPI["components"]["schemas"], OPENAPI["components"]["parameters"]
    assert schemas["RunId"]["pattern"] == RUN_ID_PATTERN
    assert schemas["Service"]["properties"]["service"]["const"] == SERVICE_NAME
    links = schemas["Service"]["properties"]["links"]["properties"]
    assert {name: link["const"] for name, link in links.items()} == endpoints.LINKS
    for name, bounds in [
        ("YearQuery", endpoints.YEARS),
        ("YearPath", endpoints.YEARS),
        ("MonthQuery", endpoints.MONTHS),
        ("MonthPath", endpoints.MONTHS),
        ("HorizonQuery", endpoints.HORIZONS),
    ]:
        schema = parameters[name]["schema"]
        assert (schema["minimum"], schema["maximum"]) == bounds, name
