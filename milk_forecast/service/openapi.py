"""The OpenAPI 3.1 description of the prediction API, served at /openapi.json.

Hand-written as a dict (no YAML); tests validate it with openapi-spec-validator and
validate real responses against the response schemas below.
"""

from __future__ import annotations

from typing import Any

from milk_forecast.run_folder.layout import RUN_ID_PATTERN
from milk_forecast.run_folder.predictions import PREDICTION_KINDS
from milk_forecast.run_folder.publications import PUBLICATION_KEYS
from milk_forecast.service.serving import (
    HORIZON_RANGE,
    MONTH_RANGE,
    SERVICE_NAME,
    UNIT,
    YEAR_RANGE,
)

ERROR_CODES = [
    "invalid_parameter",
    "month_not_covered",
    "horizon_not_covered",
    "no_forecast",
    "no_run",
    "unknown_run",
    "no_report",
    "not_found",
    "method_not_allowed",
    "http_error",
    "bad_request",
    "too_many_requests",
    "internal_error",
]
MONTH_TEXT = {"type": "string", "pattern": "^[0-9]{4}-[0-9]{2}$", "examples": ["2020-05"]}
TIMESTAMP = {"type": ["string", "null"], "examples": ["2026-11-27T12:03:01Z"]}
RUN_ID = {"type": "string", "pattern": RUN_ID_PATTERN}
NUMBER_OR_NULL = {"type": ["number", "null"]}
OBJECT_OR_NULL = {"type": ["object", "null"]}
DATA_SOURCE = {"type": "string", "enum": ["synthetic_sample", "real", "unknown"]}
# What / links to (its "links" object): the page, the metrics, the history, this document.
LINKS = {
    "page": "/dashboard",
    "metrics": "/metrics",
    "runs": "/api/runs",
    "openapi": "/openapi.json",
}
PAGE_DESCRIPTION = (
    "the HTML page for people: the served run's forecast with its intervals and fan "
    "chart, the track record of the published forecasts and the drift check, the "
    "backtest RMSE by horizon, the runs with links to their reports, the publications. "
    "Rendered when the run or the history changes, served from memory; no script, "
    "nothing fetched from any host (Content-Security-Policy)"
)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def closed(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An object schema that lists every key it may hold."""
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def json_content(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def response(description: str, schema_name: str) -> dict[str, Any]:
    return {"description": description, "content": json_content(ref(schema_name))}


def error_response(description: str) -> dict[str, Any]:
    return response(description, "Error")


PREDICTION_PROPERTIES = {
    "year": {"type": "integer"},
    "month": {"type": "integer", "minimum": 1, "maximum": 12},
    "prediction": {"type": "number", "description": f"predicted price, {UNIT}, 2 decimals"},
    "unit": {"type": "string", "const": UNIT},
    "actual": {**NUMBER_OR_NULL, "description": "observed price when known, else null"},
    "kind": {"type": "string", "enum": list(PREDICTION_KINDS)},
    "horizon": {
        "oneOf": [
            {"type": "null"},
            {"type": "integer", "minimum": HORIZON_RANGE[0], "maximum": HORIZON_RANGE[1]},
        ],
        "description": "forecast rows: months after the last observed price; null otherwise",
    },
    "interval": {
        "oneOf": [{"type": "null"}, ref("Interval")],
        "description": "prediction intervals by level, null when the run has none for the month",
    },
    "model": {"type": ["string", "null"]},
    "reason": {
        "type": ["string", "null"],
        "description": "forecast rows: why this model made it; null when the run gives none",
    },
    "run_id": RUN_ID,
}

SCHEMAS: dict[str, Any] = {
    "Error": closed(
        ["error"],
        {
            "error": closed(
                ["status", "code", "message"],
                {
                    "status": {"type": "integer"},
                    "code": {"type": "string", "enum": ERROR_CODES},
                    "message": {"type": "string"},
                    "parameter": {"type": "string", "enum": ["year", "month", "horizon"]},
                    "allowed": {"type": "string"},
                    "first_month": MONTH_TEXT,
                    "last_month": MONTH_TEXT,
                    "run_id": RUN_ID,
                    "hint": {"type": "string"},
                },
            )
        },
    ),
    "Bounds": closed(
        ["lower", "upper"], {"lower": {"type": "number"}, "upper": {"type": "number"}}
    ),
    "Interval": {
        "type": "object",
        "description": "one entry per interval level, keyed by the level in percent",
        "propertyNames": {"pattern": "^[0-9]+(\\.[0-9]+)?$"},
        "additionalProperties": ref("Bounds"),
        "minProperties": 1,
        "examples": [{"80": {"lower": 321.43, "upper": 339.18}}],
    },
    "Prediction": closed(list(PREDICTION_PROPERTIES), PREDICTION_PROPERTIES),
    "ForecastPath": closed(
        ["run_id", "unit", "interval_levels", "path"],
        {
            "run_id": RUN_ID,
            "unit": {"type": "string", "const": UNIT},
            "interval_levels": {
                "type": "array",
                "items": {"type": "string"},
                "description": "the run's interval levels in percent, as keyed in 'interval'",
            },
            "path": {
                "type": "array",
                "items": ref("Prediction"),
                "minItems": 1,
                "description": "the forecast months, horizon 1 first",
            },
        },
    ),
    "ServedRunSummary": closed(
        [
            "run_id",
            "started_at",
            "finished_at",
            "data_source",
            "headline",
            "first_month",
            "last_month",
            "forecast_first_month",
            "forecast_last_month",
        ],
        {
            "run_id": RUN_ID,
            "started_at": TIMESTAMP,
            "finished_at": TIMESTAMP,
            "data_source": DATA_SOURCE,
            "headline": {**OBJECT_OR_NULL, "description": "metrics.json 'headline'"},
            "first_month": MONTH_TEXT,
            "last_month": MONTH_TEXT,
            "forecast_first_month": {"oneOf": [{"type": "null"}, MONTH_TEXT]},
            "forecast_last_month": {"oneOf": [{"type": "null"}, MONTH_TEXT]},
        },
    ),
    "Service": closed(
        ["service", "unit", "links", "run"],
        {
            "service": {"type": "string", "const": SERVICE_NAME},
            "unit": {"type": "string", "const": UNIT},
            "run": {"oneOf": [{"type": "null"}, ref("ServedRunSummary")]},
            "links": closed(
                list(LINKS),
                {name: {"type": "string", "const": path} for name, path in LINKS.items()},
                description="the page for people, the metrics, the run history, this document",
            ),
            "message": {
                "type": "string",
                "description": "how to produce a run, when none is served",
            },
        },
    ),
    "Health": closed(["status"], {"status": {"type": "string", "const": "alive"}}),
    "Ready": closed(["status", "run_id"], {"status": {"const": "ready"}, "run_id": RUN_ID}),
    "RunRow": closed(
        [
            "run_id",
            "status",
            "started_at",
            "finished_at",
            "data_source",
            "headline",
            "served",
            "error",
        ],
        {
            "run_id": RUN_ID,
            "status": {
                "type": "string",
                "description": "run.json status; a 'running' run whose process is gone is 'incomplete'",
                "examples": ["succeeded", "failed", "running", "incomplete"],
            },
            "started_at": TIMESTAMP,
            "finished_at": TIMESTAMP,
            "data_source": DATA_SOURCE,
            "headline": OBJECT_OR_NULL,
            "served": {"type": "boolean"},
            "error": {
                **OBJECT_OR_NULL,
                "description": "run.json 'error', or why run.json is unreadable",
            },
        },
    ),
    "Publication": closed(
        list(PUBLICATION_KEYS),
        {
            "run_id": RUN_ID,
            "published_at": {"type": "string", "examples": ["2026-11-27T12:04:00Z"]},
            "by": {
                "type": "string",
                "description": "who made the run the served one: a pipeline run or --publish",
            },
        },
    ),
    "RunList": closed(
        ["served_run_id", "runs", "publications"],
        {
            "served_run_id": {"oneOf": [{"type": "null"}, RUN_ID]},
            "runs": {"type": "array", "items": ref("RunRow"), "description": "newest first"},
            "publications": {
                "type": "array",
                "items": ref("Publication"),
                "description": "the publication log (runs/publications.jsonl), newest first",
            },
        },
    ),
    "RunDetail": closed(
        ["run_id", "status", "served", "run", "metrics", "error"],
        {
            "run_id": RUN_ID,
            "status": {"type": "string"},
            "served": {"type": "boolean"},
            "run": {**OBJECT_OR_NULL, "description": "run.json, null when it is unreadable"},
            "metrics": {**OBJECT_OR_NULL, "description": "metrics.json, null when absent"},
            "error": {"type": ["string", "null"], "description": "why run.json is unreadable"},
        },
    ),
}


def integer_parameter(name: str, where: str, bounds: tuple[int, int]) -> dict[str, Any]:
    low, high = bounds
    return {
        "name": name,
        "in": where,
        "required": True,
        "description": f"integer from {low} to {high}; 422 otherwise",
        "schema": {"type": "integer", "minimum": low, "maximum": high},
    }


PARAMETERS = {
    "YearQuery": integer_parameter("year", "query", YEAR_RANGE),
    "MonthQuery": integer_parameter("month", "query", MONTH_RANGE),
    "YearPath": integer_parameter("year", "path", YEAR_RANGE),
    "MonthPath": integer_parameter("month", "path", MONTH_RANGE),
    "HorizonQuery": {
        **integer_parameter("horizon", "query", HORIZON_RANGE),
        "required": False,
        "description": (
            f"one month of the path: integer from {HORIZON_RANGE[0]} to {HORIZON_RANGE[1]} "
            "(422 otherwise; 404 past the run's path); absent: the whole path"
        ),
    },
    "RunId": {
        "name": "run_id",
        "in": "path",
        "required": True,
        "description": "a run id such as 20261127T120301Z; anything else is a 404",
        "schema": {"type": "string"},
    },
}

RESPONSES = {
    "InvalidParameter": error_response(
        "missing, repeated, non-integer or out-of-range parameter; on the path form, year or "
        "month also given in the query string"
    ),
    "MonthNotCovered": error_response("the served run has no prediction for that month"),
    "NoRun": error_response("no succeeded run is loaded yet; the message says how to make one"),
    "TooManyRequests": error_response(
        "the run history is paced (HISTORY_RATE answers per second per process) and this "
        "request's turn is more than 2 s away; the message says when to retry"
    ),
    "Default": error_response(
        "unknown route (404), wrong method (405), unexpected failure (500), malformed HTTP "
        "request (400, code bad_request, answered before routing)"
    ),
}


def param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


def answer(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def get(summary: str, responses: dict[str, Any], parameters: list | None = None) -> dict:
    """A GET operation; every operation also documents the shared error shape as default."""
    operation: dict[str, Any] = {
        "summary": summary,
        "responses": {**responses, "default": answer("Default")},
    }
    if parameters:
        operation["parameters"] = parameters
    return {"get": operation}


PREDICT_RESPONSES = {
    "200": response("the prediction for that month", "Prediction"),
    "404": answer("MonthNotCovered"),
    "422": answer("InvalidParameter"),
    "503": answer("NoRun"),
}

HTML_CONTENT = {"text/html": {"schema": {"type": "string"}}}

PATHS = {
    "/": get(
        "service name, the run being served and links (JSON); a browser, whose Accept "
        "weighs text/html above application/json, gets the page of /dashboard instead",
        {
            "200": {
                "description": "the service (JSON; */*, a missing Accept or a tie), or the page",
                "content": {**json_content(ref("Service")), **HTML_CONTENT},
            },
            "429": answer("TooManyRequests"),
        },
    ),
    "/dashboard": get(
        PAGE_DESCRIPTION,
        {
            "200": {
                "description": "the page, also while no run is served",
                "content": HTML_CONTENT,
            },
            "429": answer("TooManyRequests"),
        },
    ),
    "/runs/{run_id}/report.html": get(
        "a run's report.html (its executed notebooks as one page), read-only, under a "
        "Content-Security-Policy that runs no script and fetches nothing; no other file "
        "of the runs folder is served",
        {
            "200": {"description": "the report", "content": HTML_CONTENT},
            "404": error_response("malformed run id, unknown run, or no report to serve"),
            "429": answer("TooManyRequests"),
        },
        [param("RunId")],
    ),
    "/metrics": get(
        "the service's metrics in the Prometheus text format (requests by route and "
        "status, latency, the served run, its RMSE and drift status, reloads, refusals); "
        "per worker process",
        {
            "200": {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        },
    ),
    "/health": get("the process is alive", {"200": response("alive", "Health")}),
    "/ready": get(
        "a model is loaded",
        {"200": response("ready, with the served run id", "Ready"), "503": answer("NoRun")},
    ),
    "/api/predict": get(
        "the served run's price for one month",
        PREDICT_RESPONSES,
        [param("YearQuery"), param("MonthQuery")],
    ),
    "/api/predict/{year}/{month}": get(
        "the same as /api/predict, with year and month in the path; year or month also in "
        "the query string is a 422 (never silently one or the other)",
        PREDICT_RESPONSES,
        [param("YearPath"), param("MonthPath")],
    ),
    "/api/forecast": get(
        "the served run's forecast path (horizon 1 first), or one month of it with ?horizon=N",
        {
            "200": {
                "description": "the whole path, or with ?horizon=N that month's prediction",
                "content": json_content({"oneOf": [ref("ForecastPath"), ref("Prediction")]}),
            },
            "404": error_response(
                "the served run has no forecast row, or its path ends before that horizon "
                "(the body gives the months it covers)"
            ),
            "422": answer("InvalidParameter"),
            "503": answer("NoRun"),
        },
        [param("HorizonQuery")],
    ),
    "/api/runs": get(
        "every run, newest first, with which one is served",
        {"200": response("the runs", "RunList"), "429": answer("TooManyRequests")},
    ),
    "/api/runs/{run_id}": get(
        "one run's run.json and metrics.json",
        {
            "200": response("the run", "RunDetail"),
            "404": error_response("unknown or malformed run id"),
            "429": answer("TooManyRequests"),
        },
        [param("RunId")],
    ),
    "/openapi.json": get(
        "this document",
        {"200": {"description": "OpenAPI 3.1", "content": json_content({"type": "object"})}},
    ),
}

OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Milk producer price forecast",
        "version": "1.0.0",
        "description": (
            f"Monthly price paid to milk producers in Chile ({UNIT}, rounded to 2 decimals), "
            "served from the newest succeeded pipeline run (runs/LATEST): its months, "
            "observed and backtested, and its forecast path. Every error the application "
            "answers is JSON of the Error shape."
        ),
    },
    "paths": PATHS,
    "components": {"schemas": SCHEMAS, "parameters": PARAMETERS, "responses": RESPONSES},
}
