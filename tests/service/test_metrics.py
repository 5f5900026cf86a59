"""/metrics: request counts by route template, the served run's figures, reloads, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from run_factory import make_run
from starlette.routing import Route

from milk_forecast.run_folder.layout import METRICS_FILE
from milk_forecast.service import metrics
from milk_forecast.service.history import RunIndex
from milk_forecast.service.store import RunStore

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"


def predict() -> None: ...


def forecast() -> None: ...


ROUTES = [Route("/api/predict/{year}/{month}", predict), Route("/api/forecast", forecast)]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def scrape(store: RunStore, requests: metrics.RequestMetrics, now: float = 0.0) -> dict:
    index = RunIndex(store.folder)
    index.scan()
    registry = metrics.make_registry(store, index, requests, clock=lambda: now)
    return samples(metrics.exposition(registry).decode())


def with_facts(run_dir: Path, **blocks: Any) -> None:
    path = run_dir / METRICS_FILE
    document = json.loads(path.read_text())
    document.update(blocks)
    path.write_text(json.dumps(document))


def test_requests_are_counted_by_route_template_and_status(runs_dir: Path) -> None:
    requests = metrics.RequestMetrics(ROUTES)
    for seconds in (0.0001, 0.0001, 0.003):
        requests.record(predict, 200, seconds)
    requests.record(predict, 404, 0.0002)
    requests.record(None, 404, 0.0001)  # no route matched
    found = scrape(RunStore(runs_dir), requests)
    route = ("route", "/api/predict/{year}/{month}")
    assert found[("milk_http_requests_total", (route, ("status", "200")))] == 3
    assert found[("milk_http_requests_total", (route, ("status", "404")))] == 1
    unmatched = (("route", "unmatched"), ("status", "404"))
    assert found[("milk_http_requests_total", unmatched)] == 1
    bucket = "milk_http_request_duration_seconds_bucket"
    assert found[(bucket, (("le", "0.0005"), route))] == 3
    assert found[(bucket, (("le", "0.005"), route))] == 4
    assert found[(bucket, (("le", "+Inf"), route))] == 4
    assert found[("milk_http_request_duration_seconds_count", (route,))] == 4
    assert found[("milk_http_request_duration_seconds_sum", (route,))] == pytest.approx(0.0034)
    assert not any(labels == (("route", "/api/forecast"),) for _, labels in found)  # never asked


def test_the_served_runs_figures_are_read_at_scrape_time(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    with_facts(
        run_dir,
        track_record={"runs": 6, "horizons": {"1": {"count": 6, "rmse_clp_per_l": 7.25}}},
        drift={"status": "warning", "reasons": ["worse"], "rule": "r"},
    )
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    finished = store.served.facts.finished_epoch
    found = scrape(store, metrics.RequestMetrics(ROUTES), now=finished + 3600)
    headline = json.loads((run_dir / METRICS_FILE).read_text())["headline"]
    assert found[("milk_served_run_info", (("run_id", RUN_A),))] == 1
    assert found[("milk_served_run_age_seconds", ())] == 3600
    assert found[("milk_served_walk_forward_rmse_clp_per_l", ())] == headline["rmse_clp_per_l"]
    assert found[("milk_served_track_record_rmse_clp_per_l", ())] == 7.25
    assert found[("milk_served_track_record_forecasts", ())] == 6
    drift = {
        labels[0][1]: value
        for (name, labels), value in found.items()
        if name == "milk_served_drift_status"
    }
    assert drift == {"ok": 0, "warning": 1, "not_enough_history": 0}
    assert found[("milk_run_reloads_total", ())] == 1
    assert found[("milk_runs_refused_total", ())] == 0
    assert found[("milk_history_runs", ())] == 1


def test_no_track_record_yet_means_no_track_record_rmse(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    with_facts(run_dir, track_record={"runs": 0, "origins": None, "horizons": {}})
    store = RunStore(runs_dir, reload_interval=0)
    store.refresh()
    found = scrape(store, metrics.RequestMetrics(ROUTES))
    assert found[("milk_served_track_record_forecasts", ())] == 0
    assert ("milk_served_track_record_rmse_clp_per_l", ()) not in found


def test_reloads_and_refusals_are_counted_by_the_store(runs_dir: Path) -> None:
    store = RunStore(runs_dir, reload_interval=0)
    found = scrape(store, metrics.RequestMetrics(ROUTES))
    assert not any(name == "milk_served_run_info" for name, _ in found)  # nothing served yet
    make_run(runs_dir, RUN_A)
    store.refresh()
    broken = make_run(runs_dir, RUN_B)
    (broken / METRICS_FILE).write_text("{")
    store.refresh()
    found = scrape(store, metrics.RequestMetrics(ROUTES))
    assert found[("milk_run_reloads_total", ())] == 1
    assert found[("milk_runs_refused_total", ())] == 1
    assert found[("milk_served_run_info", (("run_id", RUN_A),))] == 1


def test_each_registry_is_its_own(runs_dir: Path) -> None:
    """Two apps in one process never share counts (nor the global registry)."""
    first, second = metrics.RequestMetrics(ROUTES), metrics.RequestMetrics(ROUTES)
    first.record(predict, 200, 0.001)
    store = RunStore(runs_dir)
    route = (("route", "/api/predict/{year}/{month}"), ("status", "200"))
    assert scrape(store, first)[("milk_http_requests_total", route)] == 1
    assert ("milk_http_requests_total", route) not in scrape(store, second)
