"""The prediction service: ``uvicorn app:app`` serves the newest succeeded run (runs/LATEST).
This module only assembles milk_forecast.service."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from milk_forecast.service import endpoints as e
from milk_forecast.service.answers import ApiError, error_answer
from milk_forecast.service.metrics import CountRequests

routes = [
    Route("/api/predict", e.predict),  # first, the hot path: routes are matched in order
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
    middleware=[Middleware(CountRequests)],
    exception_handlers=dict.fromkeys((ApiError, HTTPException, Exception), error_answer),
)
# A trailing slash is a 404 like any unknown URL: Starlette's redirect would build its
# Location from the request's Host header.
app.router.redirect_slashes = False
