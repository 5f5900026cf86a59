"""The prediction service: ``uvicorn app:app`` serves the newest succeeded run (runs/LATEST).

Environment:
- ``RUNS_DIR``: the runs folder (default: runs/ beside this file).
- ``RELOAD_INTERVAL``: seconds between two looks (one stat) at runs/LATEST on the
  request path (default 1.0; 0 looks on every request). A newer run is loaded in a
  worker thread while other requests keep being answered from the current one,
  then swapped in atomically. Each uvicorn worker process does the same.
- ``MILK_BENCH_PLAIN=1``: also mount /bench/plain (a plain JSON endpoint for
  benchmarks/api.py); off by default and absent from /openapi.json.

Logic lives in milk_forecast.serving; this module only wires HTTP to it.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from milk_forecast.service import serving
from milk_forecast.service.openapi import OPENAPI

logger = logging.getLogger("app")
OPENAPI_BODY = serving.dumps(OPENAPI)
BENCH_PLAIN_ENV = "MILK_BENCH_PLAIN"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}


def settings() -> tuple[Path, float]:
    """The runs folder and the reload interval, from the environment."""
    runs_dir = Path(os.environ.get("RUNS_DIR") or Path(__file__).resolve().parent / "runs")
    interval = os.environ.get("RELOAD_INTERVAL", "1.0")
    try:
        return runs_dir, float(interval)
    except ValueError:
        raise ValueError(f"RELOAD_INTERVAL={interval!r} is not a number of seconds") from None


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, serving.RunStore]]:
    store = serving.RunStore(*settings())
    await run_in_threadpool(store.refresh)
    if store.served is None:
        logger.warning(store.no_run_error().message)
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise show up as latency spikes.
    gc.freeze()
    yield {"store": store}


def json_body(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def json_payload(payload: object, status: int = 200) -> Response:
    return json_body(serving.dumps(payload), status)


def store_of(request: Request) -> serving.RunStore:
    """The lifespan's RunStore (read from the scope: cheaper than request.state)."""
    return request.scope["state"]["store"]


async def current_run(request: Request) -> serving.ServedRun | None:
    """The served run (None if none), after the cheap periodic check for a newer LATEST."""
    store = store_of(request)
    if store.due() and store.changed():
        await run_in_threadpool(store.refresh)
    return store.served


async def served_run(request: Request) -> serving.ServedRun:
    """The served run, or a 503 saying how to produce one."""
    run = await current_run(request)
    if run is None:
        raise store_of(request).no_run_error()
    return run


def param_values(request: Request, name: str) -> list[str]:
    """A path parameter, else every value of the query parameter ``name``."""
    if name in request.path_params:
        return [request.path_params[name]]
    return request.query_params.getlist(name)


async def index(request: Request) -> Response:
    payload: dict[str, object] = {"service": serving.SERVICE_NAME, "unit": serving.UNIT}
    run = await current_run(request)
    if run is None:
        payload.update(run=None, message=store_of(request).no_run_error().message)
    else:
        payload["run"] = dict(run.summary)
    return json_payload(payload)


async def health(request: Request) -> Response:
    return json_payload({"status": "alive"})


async def ready(request: Request) -> Response:
    run = await served_run(request)
    return json_payload({"status": "ready", "run_id": run.run_id})


async def predict(request: Request) -> Response:
    run = await current_run(request)
    query = request.scope["query_string"]
    if run is not None and query in run.query_bodies:  # fast path: precomputed at load time
        return json_body(run.query_bodies[query])
    year = serving.parse_int_param("year", param_values(request, "year"), *serving.YEAR_RANGE)
    month = serving.parse_int_param("month", param_values(request, "month"), *serving.MONTH_RANGE)
    return json_body((await served_run(request)).predict_body(year, month))


async def forecast(request: Request) -> Response:
    run = await served_run(request)
    if run.forecast_body is None:
        raise serving.ApiError(404, "no_forecast", f"run {run.run_id} has no forecast row")
    return json_body(run.forecast_body)


async def runs_list(request: Request) -> Response:
    run = await current_run(request)
    runs_dir = store_of(request).runs_dir
    payload = await run_in_threadpool(serving.runs_payload, runs_dir, run and run.run_id)
    return json_payload(payload)


async def run_detail(request: Request) -> Response:
    run = await current_run(request)
    runs_dir, run_id = store_of(request).runs_dir, request.path_params["run_id"]
    payload = await run_in_threadpool(serving.run_payload, runs_dir, run_id, run and run.run_id)
    return json_payload(payload)


async def openapi(request: Request) -> Response:
    return json_body(OPENAPI_BODY)


async def plain(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, serving.ApiError)
    return json_payload(exc.payload(), exc.status)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    error = serving.ApiError(
        exc.status_code,
        code,
        f"{exc.detail}: {request.method} {serving.echo(request.scope['path'])}",
    )
    return json_body(serving.dumps(error.payload()), exc.status_code, exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    error = serving.ApiError(
        500, "internal_error", f"unexpected {type(exc).__name__}; see the server log"
    )
    return json_payload(error.payload(), 500)


routes = [  # the hot path first: routes are matched in order
    Route("/api/predict", predict),
    Route("/api/predict/{year}/{month}", predict),
    Route("/", index),
    Route("/health", health),
    Route("/ready", ready),
    Route("/api/forecast", forecast),
    Route("/api/runs", runs_list),
    Route("/api/runs/{run_id}", run_detail),
    Route("/openapi.json", openapi),
]
if os.environ.get(BENCH_PLAIN_ENV) == "1":  # first, so routing favours the baseline
    routes.insert(0, Route("/bench/plain", plain))

app = Starlette(
    routes=routes,
    lifespan=lifespan,
    exception_handlers={
        serving.ApiError: api_error,
        HTTPException: http_error,
        Exception: unexpected_error,
    },
)
