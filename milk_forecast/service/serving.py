"""What the API's endpoints share: the JSON error, parameter parsing, JSON bodies, safe values.

Every error is answered as ``{"error": {"status", "code", "message", ...details}}``
(``ApiError``); a client's value is quoted back only shortened and sanitised (``echo``);
values copied from a run's files into a response are flattened and bounded
(``flat_object``, ``short_text``) so that a malformed file cannot make a body huge or
deep. Standard library only: the service imports nothing heavy.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from milk_forecast.run_folder.layout import RUN_ID_EXAMPLE, UNIT, is_valid_run_id
from milk_forecast.run_folder.predictions import FORECAST_HORIZON
from milk_forecast.service.guard import sanitize

SERVICE_NAME = "milk-price-forecast"
UNIT = UNIT
YEAR_RANGE = (1900, 2200)
MONTH_RANGE = (1, 12)
HORIZON_RANGE = (1, FORECAST_HORIZON)
RUN_HINT = "produce one with `python run_pipeline.py` (it publishes runs/LATEST)"
MAX_ECHO = 40  # characters of a client's value quoted back in an error message
MAX_TEXT = 500  # characters of a text copied from a run's files into a response
MAX_KEYS = 50  # entries of an object copied from a run's files into a response

_INTEGER_RE = re.compile(r"-?[0-9]+")
_MAX_DIGITS = 6


class ApiError(Exception):
    """An error answered as JSON ``{"error": {"status", "code", "message", ...details}}``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def payload(self) -> dict[str, Any]:
        return {
            "error": {
                "status": self.status,
                "code": self.code,
                "message": self.message,
                **self.details,
            }
        }


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (at any depth) replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON; NaN becomes null."""
    return json.dumps(finite(payload), ensure_ascii=False, separators=(",", ":")).encode()


def echo(text: str) -> str:
    """A client's value, shortened and sanitised, for quoting in an error message."""
    return sanitize(text, MAX_ECHO + 3)


def price(value: float | None) -> float | None:
    """A price in CLP/L as published: rounded to 2 decimals."""
    return None if value is None else round(value, 2)


def short_text(value: Any) -> str | None:
    """A text from a run's files, sanitised and bounded; None for anything else."""
    return sanitize(value, MAX_TEXT) if isinstance(value, str) else None


def flat_object(value: Any) -> dict[str, Any] | None:
    """The scalar entries of an object from a run's files (texts bounded); None if not an object."""
    if not isinstance(value, dict):
        return None
    flat: dict[str, Any] = {}
    for key, item in list(value.items())[:MAX_KEYS]:
        if isinstance(item, str):
            flat[sanitize(key, MAX_ECHO)] = short_text(item)
        elif item is None or isinstance(item, bool | int | float):
            flat[sanitize(key, MAX_ECHO)] = item
    return flat


def parse_int_param(name: str, values: list[str], low: int, high: int) -> int:
    """The single integer in ``values`` within ``low..high``, else a 422 naming ``name``."""
    allowed = f"integer from {low} to {high}"

    def invalid(problem: str) -> ApiError:
        return ApiError(
            422,
            "invalid_parameter",
            f"{problem}; expected an {allowed}",
            parameter=name,
            allowed=allowed,
        )

    if not values:
        raise invalid(f"{name} is missing")
    if len(values) > 1:
        raise invalid(f"{name} is given {len(values)} times")
    text = values[0]
    if not _INTEGER_RE.fullmatch(text):
        raise invalid(f"{name}={echo(text)!r} is not an integer")
    if len(text.lstrip("-")) > _MAX_DIGITS or not low <= int(text) <= high:
        raise invalid(f"{name}={echo(text)} is out of range")
    return int(text)


def check_run_id(run_id: str) -> None:
    """A 404 (``unknown_run``) unless ``run_id`` has the contract's run-id shape."""
    if not is_valid_run_id(run_id):
        raise ApiError(
            404,
            "unknown_run",
            f"{echo(run_id)!r} is not a run id: run ids look like {RUN_ID_EXAMPLE!r}",
        )


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"
