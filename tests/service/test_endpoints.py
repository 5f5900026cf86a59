"""What the endpoints share: the settings, the OpenAPI document (tests/test_app.py checks real
responses against it)."""

from __future__ import annotations

import pytest
from openapi_spec_validator import validate

from milk_forecast.run_folder.layout import RUN_ID_PATTERN
from milk_forecast.service import endpoints
from milk_forecast.service.answers import SERVICE_NAME
from milk_forecast.service.endpoints import OPENAPI


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
