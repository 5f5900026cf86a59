"""``GET /metrics``: what the service is doing, in the Prometheus text format.

Two sources, both read when Prometheus scrapes, never computed per request beyond a
count:

- ``RequestMetrics``: requests by route template and status code, and their latency by
  route, counted by ``MetricsMiddleware`` (a raw ASGI middleware) in plain integers on
  the event loop. Measured on the development machine, prometheus-client's own
  ``Counter.inc`` plus ``Histogram.observe`` cost about 7 us a request (a lock each);
  these counts cost well under 1 us, and the collector turns them into the usual
  counter and histogram families at scrape time.
- ``ServiceCollector``: the served run (id, age, walk-forward and track-record RMSE,
  drift status) read from the ``RunStore`` and its ``RunFacts``, the store's reload and
  refusal counts, and the runs the history index holds.

Each app start (``lifespan``) gets its own ``CollectorRegistry`` (never the global
one), so several apps or test clients in one process never mix their counts. Each
uvicorn worker process answers with its own counts: with ``--workers N``, a scrape
reaches one worker, as for any multi-process Python server.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Route

if TYPE_CHECKING:
    from milk_forecast.service.history import RunIndex
    from milk_forecast.service.store import RunStore

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

STATE_KEY = "request_metrics"  # where lifespan puts the RequestMetrics in the app state
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Latency buckets (seconds): /api/predict answers in well under 1 ms on a quiet machine.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
UNMATCHED = "unmatched"  # the route label of a request no route matched (a 404)
DRIFT_STATUSES = ("ok", "warning", "not_enough_history")

# Metric names (README "Metrics"; docs/contracts.md). Counters get "_total" on exposition.
REQUESTS = "milk_http_requests"
LATENCY = "milk_http_request_duration_seconds"
SERVED_RUN = "milk_served_run"  # exposed as milk_served_run_info{run_id=...} 1
SERVED_RUN_AGE = "milk_served_run_age_seconds"
WALK_FORWARD_RMSE = "milk_served_walk_forward_rmse_clp_per_l"
TRACK_RECORD_RMSE = "milk_served_track_record_rmse_clp_per_l"
TRACK_RECORD_COUNT = "milk_served_track_record_forecasts"
DRIFT_STATUS = "milk_served_drift_status"
RELOADS = "milk_run_reloads"
REFUSALS = "milk_runs_refused"
HISTORY_RUNS = "milk_history_runs"


class RouteStats:
    """The counts of one route: requests by status code, latency buckets, latency sum."""

    __slots__ = ("buckets", "route", "seconds", "statuses")

    def __init__(self, route: str) -> None:
        self.route = route
        self.statuses: dict[int, int] = {}
        self.buckets = [0] * (len(BUCKETS) + 1)  # the last one: above every bound
        self.seconds = 0.0

    def cumulative(self) -> list[tuple[str, int]]:
        """The histogram's buckets as Prometheus wants them: cumulative, ``+Inf`` last."""
        total, pairs = 0, []
        for bound, count in zip((*map(repr, BUCKETS), "+Inf"), self.buckets, strict=True):
            total += count
            pairs.append((bound, total))
        return pairs


class RequestMetrics:
    """Requests and latency by route template; updated on the event loop only."""

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        self.by_endpoint: dict[object, RouteStats] = {
            route.endpoint: RouteStats(route.path) for route in routes if isinstance(route, Route)
        }
        self.unmatched = RouteStats(UNMATCHED)

    def record(self, endpoint: object, status: int, seconds: float) -> None:
        """Count one answered request of the route whose endpoint is ``endpoint``."""
        stats = self.by_endpoint.get(endpoint) or self.unmatched
        statuses = stats.statuses
        statuses[status] = statuses.get(status, 0) + 1
        stats.buckets[bisect_left(BUCKETS, seconds)] += 1
        stats.seconds += seconds

    def routes(self) -> list[RouteStats]:
        return [*self.by_endpoint.values(), self.unmatched]


class MetricsMiddleware:
    """Counts every HTTP request (route template, status, latency) in the app's metrics.

    Paths in ``skip`` (the benchmark's baseline) are passed through uncounted. A request
    whose handler raised is counted as a 500 before the exception goes on.
    """

    def __init__(self, app: ASGIApp, skip: Iterable[str] = ()) -> None:
        self.app = app
        self.skip = frozenset(skip)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.skip:
            await self.app(scope, receive, send)
            return
        metrics: RequestMetrics | None = scope.get("state", {}).get(STATE_KEY)
        if metrics is None:  # no lifespan ran: nothing to count into
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_counted(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            metrics.record(scope.get("endpoint"), status, time.perf_counter() - started)


def gauge(name: str, documentation: str, value: float | None) -> Iterator[Metric]:
    """One unlabelled gauge, or nothing when ``value`` is None."""
    if value is not None:
        yield GaugeMetricFamily(name, documentation, value=value)


class ServiceCollector(Collector):
    """Everything /metrics shows, read from the store, the index and the request counts."""

    def __init__(
        self,
        store: RunStore,
        index: RunIndex,
        requests: RequestMetrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.index = index
        self.requests = requests
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        yield from self.request_families()
        yield from self.run_families()
        yield CounterMetricFamily(
            RELOADS, "Runs loaded and served (the first one included).", value=self.store.reloads
        )
        yield CounterMetricFamily(
            REFUSALS,
            "Looks at runs/LATEST that refused the run (or LATEST itself); "
            "the previous run kept serving.",
            value=self.store.refusals,
        )
        yield GaugeMetricFamily(
            HISTORY_RUNS, "Run folders in the run history at its last scan.", len(self.index.rows)
        )

    def request_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(
            REQUESTS,
            "HTTP requests answered, by route template and status code.",
            labels=["route", "status"],
        )
        latency = HistogramMetricFamily(
            LATENCY, "Time to answer a request, by route template.", labels=["route"]
        )
        for stats in self.requests.routes():
            for status, count in sorted(stats.statuses.items()):
                requests.add_metric([stats.route, str(status)], count)
            if stats.statuses:
                latency.add_metric([stats.route], stats.cumulative(), stats.seconds)
        yield requests
        yield latency

    def run_families(self) -> Iterator[Metric]:
        run = self.store.served
        if run is None:
            return
        info = InfoMetricFamily(SERVED_RUN, "The run being served.")
        info.add_metric([], {"run_id": run.run_id})
        yield info
        facts = run.facts
        age = None if facts.finished_epoch is None else self.clock() - facts.finished_epoch
        yield from gauge(
            SERVED_RUN_AGE, "Seconds since the served run finished (run.json finished_at).", age
        )
        yield from gauge(
            WALK_FORWARD_RMSE,
            "Walk-forward RMSE of the served model, one month ahead (metrics.json headline).",
            facts.walk_forward_rmse,
        )
        yield GaugeMetricFamily(
            TRACK_RECORD_COUNT,
            "Published one-month forecasts of earlier runs scored by the served run.",
            value=facts.track_record_count,
        )
        yield from gauge(
            TRACK_RECORD_RMSE,
            "RMSE of the published one-month forecasts so far (absent before the first).",
            facts.track_record_rmse if facts.track_record_count else None,
        )
        if facts.drift_status is not None:
            drift = GaugeMetricFamily(
                DRIFT_STATUS,
                "The served run's drift check: 1 for its status, 0 for the others.",
                labels=["status"],
            )
            statuses = list(DRIFT_STATUSES)
            if facts.drift_status not in statuses:
                statuses.append(facts.drift_status)
            for status in statuses:
                drift.add_metric([status], 1.0 if status == facts.drift_status else 0.0)
            yield drift


def make_registry(
    store: RunStore,
    index: RunIndex,
    requests: RequestMetrics,
    clock: Callable[[], float] = time.time,
) -> CollectorRegistry:
    """A registry of its own for one app: the service's metrics and the process's."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ServiceCollector(store, index, requests, clock))
    ProcessCollector(registry=registry)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in the Prometheus text format."""
    return generate_latest(registry)
