"""``GET /metrics`` through prometheus_client (names: docs/service.md). Requests are counted
by ``CountRequests``; the served run's figures are read when scraped. One registry per app."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

import prometheus_client as prom
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily
from prometheus_client.registry import Collector

from milk_forecast.run_folder import metrics as m
from milk_forecast.run_folder.files import is_number
from milk_forecast.service.answers import mapping

if TYPE_CHECKING:
    from milk_forecast.service.state import State

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
HELP = {
    "milk_http_requests": "HTTP requests answered, by route template and status code.",
    "milk_http_request_duration_seconds": "Time to answer a request, by route template.",
    "milk_run_reloads": "Runs loaded and served by this process, the first one included.",
    "milk_runs_refused": "Looks at runs/LATEST that refused the run it named.",
    "milk_history_runs": "Run folders in the run history at its last scan.",
    "milk_served_run": "The run being served.",
    "milk_served_run_age_seconds": "Seconds since the served run finished (run.json).",
    "milk_served_walk_forward_rmse_clp_per_l": "The served model's walk-forward RMSE, h=1.",
    "milk_served_track_record_forecasts": "Published one-month forecasts the run scored.",
    "milk_served_track_record_rmse_clp_per_l": "Their RMSE (absent before the first).",
    "milk_served_drift_status": "The drift check: 1 for its status, 0 for the others.",
}


def epoch(timestamp: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 time with its zone; None for anything else."""
    try:
        moment = datetime.fromisoformat(timestamp)
    except (TypeError, ValueError):
        return None
    return moment.timestamp() if moment.tzinfo else None


def gauge(name: str, value: float | None, **labels: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, HELP[name], value=value, **labels)


class Metrics(Collector):
    """One app's registry: its requests, the process, and the state's figures when scraped."""

    def __init__(self, state: State, clock: Callable[[], float] = time.time) -> None:
        self.state, self.clock, self.registry = state, clock, prom.CollectorRegistry()
        name, latency = "milk_http_requests", "milk_http_request_duration_seconds"
        self.requests = prom.Counter(name, HELP[name], ["route", "status"], registry=self.registry)
        self.latency = prom.Histogram(
            latency, HELP[latency], ["route"], buckets=BUCKETS, registry=self.registry
        )
        self.registry.register(self)
        prom.ProcessCollector(registry=self.registry)

    def count(self, route: str, status: int, seconds: float) -> None:
        self.requests.labels(route, str(status)).inc()
        self.latency.labels(route).observe(seconds)

    def collect(self) -> Iterator[prom.Metric]:
        state, run = self.state, self.state.run
        yield CounterMetricFamily("milk_run_reloads", HELP["milk_run_reloads"], state.reloads)
        yield CounterMetricFamily("milk_runs_refused", HELP["milk_runs_refused"], state.refusals)
        yield gauge("milk_history_runs", len(state.index.rows))
        if run is None:
            return
        yield InfoMetricFamily("milk_served_run", HELP["milk_served_run"], {"run_id": run.run_id})
        record, metrics = run.servable.record, run.servable.metrics
        if (finished := epoch(record.get("finished_at"))) is not None:
            yield gauge("milk_served_run_age_seconds", self.clock() - finished)
        yield gauge("milk_served_walk_forward_rmse_clp_per_l", metrics["headline"][m.RMSE])
        one = mapping(mapping(mapping(metrics, m.TRACK_RECORD), "horizons"), "1")
        count = one.get("count") if isinstance(one.get("count"), int) else 0
        yield gauge("milk_served_track_record_forecasts", count)
        if count and is_number(one.get(m.RMSE)):
            yield gauge("milk_served_track_record_rmse_clp_per_l", one[m.RMSE])
        if isinstance(status := mapping(metrics, m.DRIFT).get("status"), str):
            drift = gauge("milk_served_drift_status", None, labels=["status"])
            for known in dict.fromkeys((m.DRIFT_OK, m.DRIFT_WARNING, m.DRIFT_UNKNOWN, status[:40])):
                drift.add_metric([known], float(known == status[:40]))
            yield drift


class CountRequests:
    """ASGI middleware: counts each request in the app's ``Metrics`` under its route's
    template (``unmatched`` for none); one that raised counts as a 500."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        metrics = scope.get("state", {}).get("metrics")
        if scope["type"] != "http" or metrics is None:
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), 500

        async def send_counted(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            metrics.count(route, status, time.perf_counter() - started)
