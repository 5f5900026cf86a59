"""/metrics: requests by route template, the served run's figures, reloads and refusals."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from run_factory import make_run

from milk_forecast.run_folder.layout import METRICS_FILE
from milk_forecast.service.metrics import Metrics, epoch
from milk_forecast.service.state import State

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"
TEMPLATE = "/api/predict/{year}/{month}"


def scrape(metrics: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(generate_latest(metrics.registry).decode())
        for sample in family.samples
    }


def loaded(runs_dir: Path) -> State:
    state = State(runs_dir, 0)
    state.refresh()
    return state


def with_blocks(run_dir: Path, **blocks: Any) -> None:
    path = run_dir / METRICS_FILE
    path.write_text(json.dumps(json.loads(path.read_text()) | blocks))


def test_requests_are_counted_by_route_template_and_status(runs_dir: Path) -> None:
    metrics = Metrics(State(runs_dir, 0))
    for seconds in (0.0001, 0.0001, 0.003):
        metrics.count(TEMPLATE, 200, seconds)
    metrics.count(TEMPLATE, 404, 0.0002)
    metrics.count("unmatched", 404, 0.0001)
    found = scrape(metrics)
    route = ("route", TEMPLATE)
    assert found[("milk_http_requests_total", (route, ("status", "200")))] == 3
    assert found[("milk_http_requests_total", (route, ("status", "404")))] == 1
    assert found[("milk_http_requests_total", (("route", "unmatched"), ("status", "404")))] == 1
    bucket = "milk_http_request_duration_seconds_bucket"
    assert found[(bucket, (("le", "0.0005"), route))] == 3
    assert found[(bucket, (("le", "0.005"), route))] == 4
    assert found[(bucket, (("le", "+Inf"), route))] == 4
    assert found[("milk_http_request_duration_seconds_count", (route,))] == 4
    assert found[("milk_http_request_duration_seconds_sum", (route,))] == pytest.approx(0.0034)


def test_the_served_runs_figures_are_read_at_scrape_time(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    with_blocks(
        run_dir,
        track_record={"runs": 6, "horizons": {"1": {"count": 6, "rmse_clp_per_l": 7.25}}},
        drift={"status": "warning", "reasons": ["worse"], "rule": "r"},
    )
    state = loaded(runs_dir)
    finished = epoch(state.run.servable.record["finished_at"])
    found = scrape(Metrics(state, clock=lambda: finished + 3600))
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
    assert any(name.startswith("process_") for name, _ in found)


def test_no_track_record_yet_means_no_track_record_rmse(runs_dir: Path) -> None:
    with_blocks(make_run(runs_dir, RUN_A), track_record={"runs": 0, "horizons": {}})
    found = scrape(Metrics(loaded(runs_dir)))
    assert found[("milk_served_track_record_forecasts", ())] == 0
    assert ("milk_served_track_record_rmse_clp_per_l", ()) not in found
    assert not any(name == "milk_served_drift_status" for name, _ in found)


def test_reloads_and_refusals_are_counted(runs_dir: Path) -> None:
    state = State(runs_dir, 0)
    metrics = Metrics(state)
    assert not any(name == "milk_served_run_info" for name, _ in scrape(metrics))  # none yet
    make_run(runs_dir, RUN_A)
    state.reload()
    (make_run(runs_dir, RUN_B) / METRICS_FILE).write_text("{")
    state.reload()
    found = scrape(metrics)
    assert found[("milk_run_reloads_total", ())] == 1
    assert found[("milk_runs_refused_total", ())] == 1
    assert found[("milk_served_run_info", (("run_id", RUN_A),))] == 1


def test_each_app_has_its_own_registry(runs_dir: Path) -> None:
    """Two apps in one process never share counts (nor use the global registry)."""
    first, second = Metrics(State(runs_dir, 0)), Metrics(State(runs_dir, 0))
    first.count(TEMPLATE, 200, 0.001)
    route = (("route", TEMPLATE), ("status", "200"))
    assert scrape(first)[("milk_http_requests_total", route)] == 1
    assert ("milk_http_requests_total", route) not in scrape(second)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-27T12:00:00Z", 1795780800.0),
        ("2026-11-27T12:00:00", None),
        (None, None),
        ("x", None),
    ],
)
def test_epoch_needs_a_time_zone(text: Any, expected: float | None) -> None:
    assert epoch(text) == expected
