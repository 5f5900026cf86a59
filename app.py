"""The prediction service: ``uvicorn app:app`` serves the newest succeeded run (runs/LATEST).

This module only assembles milk_forecast.service. ``MILK_BENCH_PLAIN=1`` also mounts
/bench/plain, the uncounted baseline of benchmarks/api.py (absent from /openapi.json).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from milk_forecast.service import endpoints as e
from milk_forecast.service.answers import ApiError, error_answer
from milk_forecast.service.metrics import CountRequests

BENCH_PLAIN = "/bench/plain"
bench = os.environ.get("MILK_BENCH_PLAIN") == "1"

routes = [
    *([Route(BENCH_PLAIN, e.plain)] if bench else []),  # first: the baseline routes fastest
    Route("/api/predict", e.predict),  # then the hot path: routes are matched in order
    Route("/api/predict/{year}/{month}", e.predict_path),
    Route("/", e.index),
    Route("/health", e.health),
    Route("/ready", e.ready),
    Route("/api/forecast", e.forecast),
    Route("/api/runs", e.runs_list),
    Route("/api/runs/{run_id}", e.run_detail),
    Route("/dashboard", e.dashboard),
    Route("/runs/{run_id}/report.html", e.run_report),
    Route("/metrics", e.metrics),
    Route("/openapi.json", e.openapi),
    Mount("/static", StaticFiles(directory=e.HERE / "static"), name="static"),
]

app = Starlette(
    routes=routes,
    lifespan=e.lifespan,
    middleware=[Middleware(CountRequests, skip=(BENCH_PLAIN,))],
    exception_handlers=dict.fromkeys((ApiError, HTTPException, Exception), error_answer),
)
# A trailing slash is a 404 like any unknown URL: Starlette's redirect would build its
# Location from the request's Host header.
app.router.redirect_slashes = False
