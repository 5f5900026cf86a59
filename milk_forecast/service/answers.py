"""What the answers share: compact JSON, the one error shape, parameters, the page or JSON.
Run files reach a response only as numbers, bounded texts and flat objects."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from milk_forecast.run_folder.files import excerpt, sanitize
from milk_forecast.run_folder.layout import RUN_ID_EXAMPLE, is_valid_run_id

SERVICE_NAME = "milk-price-forecast"
MAX_TEXT, MAX_KEYS = 500, 50
PRICE_SUFFIX = "_clp_per_l"
MAX_ACCEPT = 1024  # characters of an Accept header read; the rest is ignored
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
_INTEGER = re.compile(r"-?0*[0-9]{1,6}")  # zero-padding is allowed, as month=04 is


class ApiError(Exception):
    """An error answered as ``{"error": {"status", "code", "message", **details}}``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def payload(self) -> dict[str, Any]:
        error = {"status": self.status, "code": self.code, "message": self.message}
        return {"error": error | self.details}


def dumps(payload: Any) -> bytes:
    """Compact JSON (run_folder's readers refuse NaN and Infinity, so there is none)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def answer(body: bytes, status: int = 200, headers: Any = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def short_text(value: Any) -> str | None:
    """A text from a run's files, sanitised and bounded; None for anything else."""
    return sanitize(value, MAX_TEXT) if isinstance(value, str) else None


def flat_object(value: Any) -> dict[str, Any] | None:
    """A run file's object, scalars only (texts bounded, floats rounded); None if none."""
    if not isinstance(value, dict):
        return None
    scalars = [(k, v) for k, v in value.items() if v is None or isinstance(v, int | float | str)]
    return {sanitize(k, 40): short_text(v) or rounded(v) for k, v in scalars[:MAX_KEYS]}


def rounded(value: Any) -> Any:
    """``value`` with every float in it rounded to 0.01, as prices and errors are served."""
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    return [rounded(item) for item in value] if isinstance(value, list) else value


def prices_rounded(value: Any, key: str = "") -> Any:
    """``value`` with the floats under a ``*_clp_per_l`` key (prices and errors in CLP/L)
    rounded to 0.01, nothing else changed: a run's files as /api/runs/{run_id} serves them."""
    if key.endswith(PRICE_SUFFIX):
        return rounded(value)
    if isinstance(value, dict):
        return {name: prices_rounded(item, name) for name, item in value.items()}
    return [prices_rounded(item, key) for item in value] if isinstance(value, list) else value


def mapping(value: Any, key: str) -> Mapping[str, Any]:
    """``value[key]`` when both are objects, else an empty one (metrics.json's optional parts)."""
    found = value.get(key) if isinstance(value, Mapping) else None
    return found if isinstance(found, Mapping) else {}


def parse_int(name: str, values: list[str], low: int, high: int) -> int:
    """The one integer in ``values`` within ``low..high``, else a 422 naming ``name``."""
    allowed = f"integer from {low} to {high}"
    if len(values) != 1:
        problem = f"{name} is missing" if not values else f"{name} is given {len(values)} times"
    elif not _INTEGER.fullmatch(values[0]) or not low <= int(values[0]) <= high:
        problem = f"{name}={excerpt(values[0])} is not an {allowed}"
    else:
        return int(values[0])
    message = f"{problem}; expected an {allowed}"
    raise ApiError(422, "invalid_parameter", message, parameter=name, allowed=allowed)


def check_run_id(run_id: str) -> None:
    if not is_valid_run_id(run_id):
        message = f"{excerpt(run_id)} is not a run id: run ids look like {RUN_ID_EXAMPLE!r}"
        raise ApiError(404, "unknown_run", message)


def prefers_html(accept: str | None) -> bool:
    """Whether ``Accept`` weighs text/html strictly above application/json (a tie: JSON),
    each weighing the ``q`` of the most specific range matching it (RFC 9110, 12.5.1)."""
    weights: dict[str, float] = {}
    for item in (accept or "")[:MAX_ACCEPT].lower().split(","):
        media, *parameters = item.split(";")
        kind, _, subtype = (part.strip() for part in media.partition("/"))
        q = [v for n, _, v in (p.partition("=") for p in parameters) if n.strip() == "q"]
        try:
            weight = float(q[0]) if q else 1.0
        except ValueError:
            weight = 0.0
        if kind and subtype:  # the first of each range counts; an unreadable q is 0
            weights.setdefault(f"{kind}/{subtype}", weight if 0 <= weight <= 1 else 0.0)

    def weight(*ranges: str) -> float:  # the most specific range first
        return next((weights[r] for r in ranges if r in weights), 0.0)

    return weight("text/html", "text/*", "*/*") > weight("application/json", "application/*", "*/*")


async def error_answer(request: Request, exc: Exception) -> Response:
    """Every error in the API's shape: ours, Starlette's 404 and 405, anything else a 500."""
    headers = None
    if isinstance(exc, HTTPException):
        code, headers = HTTP_CODES.get(exc.status_code, "http_error"), exc.headers
        where = sanitize(f"{request.method} {request.scope['path']}", 90)
        exc = ApiError(exc.status_code, code, f"{exc.detail}: {where}")
    elif not isinstance(exc, ApiError):
        message = f"unexpected {type(exc).__name__}; see the server log"
        exc = ApiError(500, "internal_error", message)
    return answer(dumps(exc.payload()), exc.status, headers)
