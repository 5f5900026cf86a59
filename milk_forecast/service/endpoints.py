"""The endpoints (plain functions of a request) and the lifespan that loads what they serve.
Settings: ``RUNS_DIR``, ``RELOAD_INTERVAL`` and ``SEND_TIMEOUT`` (seconds), ``HISTORY_RATE``."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from milk_forecast.run_folder.files import open_bounded
from milk_forecast.run_folder.layout import REPORT_FILE, UNIT, RunFolderError
from milk_forecast.run_folder.predictions import FORECAST_HORIZON
from milk_forecast.service.answers import (
    SERVICE_NAME,
    ApiError,
    answer,
    check_run_id,
    dumps,
    parse_int,
    prefers_html,
    prices_rounded,
)
from milk_forecast.service.metrics import Metrics
from milk_forecast.service.served_run import ServedRun
from milk_forecast.service.state import RUN_HINT, State

logger = logging.getLogger(__name__)
HERE = Path(__file__).parent
# libyaml's loader when there is one: 3 ms at start-up instead of 30.
LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
OPENAPI = yaml.load((HERE / "openapi.yaml").read_text(encoding="utf-8"), Loader=LOADER)
OPENAPI_BODY = dumps(OPENAPI)
LINKS = dict(page="/dashboard", metrics="/metrics", runs="/api/runs", openapi="/openapi.json")
YEARS, MONTHS, HORIZONS = (1900, 2200), (1, 12), (1, FORECAST_HORIZON)
MAX_REPORT_BYTES, CHUNK = 16 * 1024 * 1024, 64 * 1024
HTML, POLICY = "text/html; charset=utf-8", "content-security-policy"
# No script, no form, no frame, nothing from another host. The page: data: images and its
# style sheet; a report (nbconvert's HTML, inline styles) also in a sandbox.
CSP = (
    "default-src 'none'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
SAFE = {"x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}
PAGE_HEADERS = SAFE | {POLICY: f"{CSP}; style-src 'self'", "cache-control": "no-cache"}
REPORT_HEADERS = SAFE | {POLICY: f"{CSP}; style-src 'unsafe-inline'; font-src data:; sandbox"}


def setting(name: str, default: float) -> float:
    """A non-negative number from the environment, or a ValueError naming the variable."""
    text = os.environ.get(name, str(default))
    if not re.fullmatch(r"[0-9]+(\.[0-9]*)?", text.strip()):
        raise ValueError(f"{name}={text!r} is not a non-negative number")
    return float(text)


@asynccontextmanager
async def lifespan(app: Any) -> AsyncIterator[dict[str, Any]]:
    """Load the served run; scan the history and render the page while already answering."""
    runs_dir = Path(os.environ.get("RUNS_DIR") or HERE.parents[1] / "runs")
    state = State(runs_dir, setting("RELOAD_INTERVAL", 1.0), setting("HISTORY_RATE", 50.0))
    timeout = setting("SEND_TIMEOUT", 30.0)
    await run_in_threadpool(state.reload)
    if state.run is None:
        logger.warning(state.message())
    gc.freeze()  # what is loaded lives as long as the process: out of the collector's passes
    prepared = asyncio.create_task(run_in_threadpool(state.refresh))
    yield {"state": state, "prepared": prepared, "metrics": Metrics(state), "send_timeout": timeout}
    await prepared


async def current_run(request: Request) -> ServedRun | None:
    """The served run (None while none is), swapped first if LATEST was written."""
    state: State = request.scope["state"]["state"]
    if state.due("look") and state.changed():
        await run_in_threadpool(state.refresh)
    return state.run


async def served_run(request: Request) -> ServedRun:
    """The served run, or a 503 saying how to make one."""
    run = await current_run(request)
    if run is None:
        message = request.scope["state"]["state"].message()
        raise ApiError(503, "no_run", message, hint=RUN_HINT)
    return run


async def paced(request: Request) -> State:
    """The state, once this request's turn has come, with the history rescanned if due."""
    state: State = request.scope["state"]["state"]
    await asyncio.sleep(state.turn())
    await current_run(request)
    await request.scope["state"]["prepared"]
    if state.due("scan"):
        await run_in_threadpool(state.refresh)
    return state


async def index(request: Request) -> Response:
    """JSON for API clients; the page for a browser (its Accept prefers text/html)."""
    if prefers_html(request.headers.get("accept")):
        return await dashboard(request)
    run, state = await current_run(request), request.scope["state"]["state"]
    about = {"service": SERVICE_NAME, "unit": UNIT, "links": LINKS}
    about |= {"run": run.summary} if run else {"run": None, "message": state.message()}
    return answer(dumps(about))


async def health(request: Request) -> Response:
    return answer(b'{"status":"alive"}')  # the process answers: nothing else is checked


async def ready(request: Request) -> Response:
    return answer(dumps({"status": "ready", "run_id": (await served_run(request)).run_id}))


async def predict(request: Request) -> Response:
    """/api/predict?year=&month=; the usual query strings map straight to a body."""
    run = await current_run(request)
    body = run.queries.get(request.scope["query_string"]) if run else None
    if body is None:
        year = parse_int("year", request.query_params.getlist("year"), *YEARS)
        month = parse_int("month", request.query_params.getlist("month"), *MONTHS)
        body = (await served_run(request)).predict_body(year, month)
    return answer(body)


async def predict_path(request: Request) -> Response:
    """/api/predict/{year}/{month}; year or month also in the query string is a 422."""
    for name in ("year", "month"):
        if name in request.query_params:
            message = f"{name} is given both in the path and in the query string; give it once"
            allowed = "the path form or the query form, not both"
            raise ApiError(422, "invalid_parameter", message, parameter=name, allowed=allowed)
    year = parse_int("year", [request.path_params["year"]], *YEARS)
    month = parse_int("month", [request.path_params["month"]], *MONTHS)
    return answer((await served_run(request)).predict_body(year, month))


async def forecast(request: Request) -> Response:
    """/api/forecast: the whole path; ?horizon=N one month of it."""
    run, asked = await served_run(request), request.query_params.getlist("horizon")
    return answer(run.forecast_body(parse_int("horizon", asked, *HORIZONS) if asked else None))


async def runs_list(request: Request) -> Response:
    state = await paced(request)
    return answer(state.index.list_body(state.run and state.run.run_id))


async def run_detail(request: Request) -> Response:
    request.scope["state"]["state"].index.check_known(request.path_params["run_id"])
    state, run_id = await paced(request), request.path_params["run_id"]
    detail = await run_in_threadpool(state.index.detail, run_id, state.run and state.run.run_id)
    return answer(dumps(prices_rounded(detail)))


class Streamed(StreamingResponse):
    """A large body sent a chunk at a time, each send waiting at most ``SEND_TIMEOUT`` seconds
    for the client to read: a client that stops reading holds one chunk, then is closed."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def send_in_time(message: Any) -> None:
            await asyncio.wait_for(send(message), scope["state"]["send_timeout"])

        try:
            await super().__call__(scope, receive, send_in_time)
        except TimeoutError:
            logger.warning("closed %s: the client read nothing for a while", scope["path"])
        finally:
            await self.body_iterator.aclose()  # type: ignore[attr-defined]


async def chunks_of(body: bytes) -> AsyncIterator[memoryview]:
    view = memoryview(body)
    for start in range(0, len(view), CHUNK):
        yield view[start : start + CHUNK]


async def chunks_from(fd: int) -> AsyncIterator[bytes]:
    try:
        while chunk := await run_in_threadpool(os.read, fd, CHUNK):
            yield chunk
    finally:
        os.close(fd)


async def dashboard(request: Request) -> Response:
    """The page, as last rendered (when the run or the history changed)."""
    body = (await paced(request)).page.body
    return Streamed(chunks_of(body), headers=PAGE_HEADERS, media_type=HTML)


async def run_report(request: Request) -> Response:
    """A run's report.html, read-only; nothing else of runs/ is served. An unknown one is a
    404 at once: only a report that exists waits for its turn."""
    runs_dir, run_id = request.scope["state"]["state"].runs_dir, request.path_params["run_id"]
    check_run_id(run_id)
    path = runs_dir / run_id / REPORT_FILE
    missing = ApiError(404, "no_report", f"there is no report of run {run_id} to serve")
    if not path.is_file():
        raise missing
    await paced(request)
    try:
        fd = await run_in_threadpool(open_bounded, path, MAX_REPORT_BYTES, runs_dir)
    except RunFolderError:
        raise missing from None
    return Streamed(chunks_from(fd), headers=REPORT_HEADERS, media_type=HTML)


async def metrics(request: Request) -> Response:
    await current_run(request)
    body = generate_latest(request.scope["state"]["metrics"].registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def openapi(request: Request) -> Response:
    return answer(OPENAPI_BODY)
