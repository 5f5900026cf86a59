"""The prediction service: ``uvicorn app:app`` serves the newest succeeded run (runs/LATEST).

Environment:
- ``RUNS_DIR``: the runs folder (default: runs/ beside this file).
- ``RELOAD_INTERVAL``: seconds between two looks (one lstat) at runs/LATEST on the
  request path (default 1.0; 0 looks on every request, for tests). A newer run is loaded
  in a worker thread while other requests keep being answered from the current one, then
  swapped in atomically. The run history (/api/runs) is rescanned at most as often.
  Each uvicorn worker process does the same.
- ``HISTORY_RATE``: answers per second of /api/runs and /api/runs/{run_id} together,
  per process (default 50; 0 unpaced): a client above it waits for its turn, or gets a
  429 when its turn is more than 2 s away, so the history never starves /api/predict.
- ``MILK_BENCH_PLAIN=1``: also mount /bench/plain (a plain JSON endpoint for
  benchmarks/api.py, not counted in /metrics); off by default and absent from
  /openapi.json.

People get an HTML page (/dashboard, and / for a browser), rendered when the run loads
or the history changes, never per request; /runs/{run_id}/report.html serves a run's
report read-only; /metrics answers in the Prometheus text format (each app start has
its own registry; each worker process its own counts).

Standard library, Starlette and the contracts only: no pandas, numpy, pyarrow,
scikit-learn or joblib is imported, and nothing is ever unpickled. The logic lives in
milk_forecast.service; this module only wires HTTP to it.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from milk_forecast.service import accept, metrics, report, serving
from milk_forecast.service.dashboard import Dashboard
from milk_forecast.service.history import RunIndex
from milk_forecast.service.openapi import LINKS, OPENAPI
from milk_forecast.service.pacing import Pacer
from milk_forecast.service.served_run import ServedRun
from milk_forecast.service.store import RunStore

logger = logging.getLogger("app")
OPENAPI_BODY = serving.dumps(OPENAPI)
BENCH_PLAIN_ENV = "MILK_BENCH_PLAIN"
BENCH_PLAIN_PATH = "/bench/plain"
HTTP_CODES = {404: "not_found", 405: "method_not_allowed"}
PATH_PARAMETERS = ("year", "month")


def number_setting(name: str, default: str) -> float:
    """A non-negative number from the environment, or a ValueError naming the variable."""
    text = os.environ.get(name, default)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < float("inf"):
        raise ValueError(f"{name}={text!r} is not a non-negative number")
    return value


def settings() -> tuple[Path, float, float]:
    """The runs folder, the reload interval and the history rate, from the environment."""
    runs_dir = Path(os.environ.get("RUNS_DIR") or Path(__file__).resolve().parent / "runs")
    return runs_dir, number_setting("RELOAD_INTERVAL", "1.0"), number_setting("HISTORY_RATE", "50")


def prepare_page(store: RunStore, index: RunIndex, pages: Dashboard) -> None:
    """Rescan the run history and render the page for the served run (off the event loop)."""
    index.scan()
    pages.render(store.served, index, no_run_message(store))


def refresh(store: RunStore, index: RunIndex, pages: Dashboard) -> bool:
    """Load a newer LATEST if there is one; on a swap, rescan the history and render the page."""
    swapped = store.refresh()
    if swapped:
        prepare_page(store, index, pages)
    return swapped


async def prepare_in_background(store: RunStore, index: RunIndex, pages: Dashboard) -> None:
    try:
        await run_in_threadpool(prepare_page, store, index, pages)
    except Exception:
        logger.exception("the run history or the page could not be prepared at start-up")


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, object]]:
    runs_dir, interval, history_rate = settings()
    store = RunStore(runs_dir, interval)
    index = RunIndex(store.folder, store.reload_interval)
    pages = Dashboard(store.folder)
    await run_in_threadpool(store.refresh)
    if store.served is None:
        logger.warning(store.no_run_error().message)
    requests = metrics.RequestMetrics(app.routes)
    # Everything loaded so far lives as long as the process: keep it out of the garbage
    # collector's full passes, which otherwise show up as latency spikes.
    gc.freeze()
    # The first scan of the history (every run.json: 85 ms for 500 runs) and the page are
    # prepared while the service already answers; /api/runs and the page wait for them.
    index.claim()
    preparing = asyncio.create_task(prepare_in_background(store, index, pages))
    try:
        yield {
            "store": store,
            "index": index,
            "pacer": Pacer(history_rate),
            "dashboard": pages,
            metrics.STATE_KEY: requests,
            "registry": metrics.make_registry(store, index, requests),
        }
    finally:
        await preparing


def json_body(body: bytes, status: int = 200, headers: dict | None = None) -> Response:
    return Response(body, status, headers, media_type="application/json")


def json_payload(payload: object, status: int = 200) -> Response:
    return json_body(serving.dumps(payload), status)


def store_of(request: Request) -> RunStore:
    """The lifespan's RunStore (read from the scope: cheaper than request.state)."""
    return request.scope["state"]["store"]


def index_of(request: Request) -> RunIndex:
    return request.scope["state"]["index"]


def no_run_message(store: RunStore) -> str:
    """What the page says while no run is served ("" while one is)."""
    return "" if store.served is not None else store.no_run_error().message


async def current_run(request: Request) -> ServedRun | None:
    """The served run (None if none), after the cheap periodic check for a newer LATEST."""
    store = store_of(request)
    if store.due() and store.changed():
        state = request.scope["state"]
        await run_in_threadpool(refresh, store, state["index"], state["dashboard"])
    return store.served


async def served_run(request: Request) -> ServedRun:
    """The served run, or a 503 saying how to produce one."""
    run = await current_run(request)
    if run is None:
        raise store_of(request).no_run_error()
    return run


def query_values(request: Request, name: str) -> list[str]:
    return request.query_params.getlist(name)


async def index(request: Request) -> Response:
    """JSON for API clients; the page for a browser (Accept prefers text/html)."""
    if accept.prefers_html(request.headers.get("accept")):
        return await dashboard(request)
    payload: dict[str, object] = {
        "service": serving.SERVICE_NAME,
        "unit": serving.UNIT,
        "links": LINKS,
    }
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
    """/api/predict?year=&month=: the usual query strings map straight to a body."""
    run = await current_run(request)
    query = request.scope["query_string"]
    if run is not None and query in run.query_bodies:
        return json_body(run.query_bodies[query])
    year = serving.parse_int_param("year", query_values(request, "year"), *serving.YEAR_RANGE)
    month = serving.parse_int_param("month", query_values(request, "month"), *serving.MONTH_RANGE)
    return json_body((await served_run(request)).predict_body(year, month))


async def predict_path(request: Request) -> Response:
    """/api/predict/{year}/{month}: year or month also in the query string is a 422."""
    for name in PATH_PARAMETERS:
        if name in request.query_params:
            raise serving.ApiError(
                422,
                "invalid_parameter",
                f"{name} is given both in the path and in the query string; give it once",
                parameter=name,
                allowed="the path form or the query form, not both",
            )
    values = request.path_params
    year = serving.parse_int_param("year", [values["year"]], *serving.YEAR_RANGE)
    month = serving.parse_int_param("month", [values["month"]], *serving.MONTH_RANGE)
    return json_body((await served_run(request)).predict_body(year, month))


async def forecast(request: Request) -> Response:
    """/api/forecast: the whole path; ?horizon=N one month of it."""
    run = await served_run(request)
    query = request.scope["query_string"]
    if query in run.horizon_queries:
        return json_body(run.horizon_queries[query])
    values = query_values(request, "horizon")
    if not values:
        return json_body(run.forecast_body())
    horizon = serving.parse_int_param("horizon", values, *serving.HORIZON_RANGE)
    return json_body(run.forecast_body(horizon))


async def paced(request: Request) -> None:
    """Wait for this request's turn on the history endpoints (429 when it is too far)."""
    wait = request.scope["state"]["pacer"].delay()
    if wait:
        await asyncio.sleep(wait)


async def history(request: Request) -> RunIndex:
    """The run index, rescanned first (off the event loop) when its interval has passed."""
    runs = index_of(request)
    if runs.claim():
        await run_in_threadpool(runs.scan)
    elif not runs.built.is_set():
        await run_in_threadpool(runs.built.wait, 60)
    return runs


async def runs_list(request: Request) -> Response:
    await paced(request)
    run = await current_run(request)
    runs = await history(request)
    return json_body(runs.list_body(run and run.run_id))


async def dashboard(request: Request) -> Response:
    """The HTML page: rendered only when the run or the history changed since the last one."""
    await paced(request)
    run = await current_run(request)
    runs = await history(request)
    pages: Dashboard = request.scope["state"]["dashboard"]
    message = no_run_message(store_of(request))
    body = pages.cached(run, runs, message)
    if body is None:
        body = await run_in_threadpool(pages.render, run, runs, message)
    return Response(body, headers=report.PAGE_HEADERS, media_type=report.HTML_TYPE)


async def run_report(request: Request) -> Response:
    """A run's report.html, read-only, under a policy that runs none of its scripts."""
    await paced(request)
    folder = store_of(request).folder
    run_id = request.path_params["run_id"]
    body = await run_in_threadpool(report.read_report, folder, run_id)
    return Response(body, headers=report.REPORT_HEADERS, media_type=report.HTML_TYPE)


async def metrics_text(request: Request) -> Response:
    """The Prometheus text format, computed now from the store, the index and the counts."""
    await current_run(request)
    body = metrics.exposition(request.scope["state"]["registry"])
    return Response(body, media_type=metrics.CONTENT_TYPE)


async def run_detail(request: Request) -> Response:
    await paced(request)
    run = await current_run(request)
    run_id = request.path_params["run_id"]
    body = await run_in_threadpool(index_of(request).detail_body, run_id, run and run.run_id)
    return json_body(body)


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
        f"{exc.detail}: {serving.echo(request.method)} {serving.echo(request.scope['path'])}",
    )
    return json_body(serving.dumps(error.payload()), exc.status_code, exc.headers)


async def unexpected_error(request: Request, exc: Exception) -> Response:
    error = serving.ApiError(
        500, "internal_error", f"unexpected {type(exc).__name__}; see the server log"
    )
    return json_payload(error.payload(), 500)


routes = [  # the hot path first: routes are matched in order
    Route("/api/predict", predict),
    Route("/api/predict/{year}/{month}", predict_path),
    Route("/", index),
    Route("/health", health),
    Route("/ready", ready),
    Route("/api/forecast", forecast),
    Route("/api/runs", runs_list),
    Route("/api/runs/{run_id}", run_detail),
    Route("/dashboard", dashboard),
    Route("/runs/{run_id}/report.html", run_report),
    Route("/metrics", metrics_text),
    Route("/openapi.json", openapi),
]
BENCH_PLAIN = os.environ.get(BENCH_PLAIN_ENV) == "1"
if BENCH_PLAIN:  # first, so routing favours the baseline
    routes.insert(0, Route(BENCH_PLAIN_PATH, plain))

app = Starlette(
    routes=routes,
    lifespan=lifespan,
    # Counts every request but the benchmark's baseline, which stays a bare endpoint.
    middleware=[
        Middleware(metrics.MetricsMiddleware, skip=[BENCH_PLAIN_PATH] if BENCH_PLAIN else [])
    ],
    exception_handlers={
        serving.ApiError: api_error,
        HTTPException: http_error,
        Exception: unexpected_error,
    },
)
# A URL with or without a trailing slash is a 404 like any unknown URL: Starlette's
# redirect would build its Location from the request's Host header.
app.router.redirect_slashes = False
