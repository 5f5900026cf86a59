"""Whether a run can be served: decided here, once, for the publisher and the service alike.

A servable run is a folder of the runs folder whose ``run.json`` says ``succeeded``, whose
``metrics.json`` and ``predictions.json`` pass their readers and agree (the same interval
levels), and still hold what run.json recorded. Every file is read bounded, inside the
runs folder."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import layout
from milk_forecast.run_folder.files import excerpt, sha256
from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.predictions import read_predictions_json
from milk_forecast.run_folder.record import OUTPUTS, SUCCEEDED, is_run_folder, read_run_record


@dataclass(frozen=True)
class Servable:
    run_id: str
    run_dir: Path
    record: dict[str, Any]
    metrics: dict[str, Any]
    predictions: dict[str, Any]


def read_products(run_dir: Path, root: Path | None = None) -> tuple[dict, dict]:
    """``metrics.json`` and ``predictions.json`` of ``run_dir``, each checked, and agreeing."""
    metrics = read_metrics(run_dir / layout.METRICS_FILE, root)
    document = read_predictions_json(run_dir / layout.PREDICTIONS_JSON, root)
    if (levels := document["interval_levels"]) != metrics["interval_levels"]:
        raise RunFolderError(
            f"{run_dir / layout.PREDICTIONS_JSON}: interval_levels {excerpt(levels)} differ from "
            f"{layout.METRICS_FILE}'s {excerpt(metrics['interval_levels'])}"
        )
    return metrics, document


def digest(path: Path) -> str | None:
    """The sha256 of a file's content; None when it cannot be read."""
    try:
        return sha256(path)
    except OSError:
        return None


def changed_outputs(run_dir: Path, record: dict[str, Any], names: Iterable[str]) -> list[str]:
    """Which of the outputs ``names`` no longer hold what ``run.json`` recorded the run made
    (an output it did not record is not checked)."""
    recorded = record.get(OUTPUTS) or {}
    return [name for name in names if name in recorded and digest(run_dir / name) != recorded[name]]


def load_servable(runs_dir: Path, run_id: str) -> Servable:
    """The run ``run_id`` of ``runs_dir``, checked; ``RunFolderError`` naming the file if not."""
    run_dir = layout.run_dir_for(runs_dir, run_id)
    if not is_run_folder(run_dir):
        raise RunFolderError(f"{run_dir}: no such run folder")
    record = read_run_record(run_dir, runs_dir)
    if record["status"] != SUCCEEDED:
        status = excerpt(record["status"])
        raise RunFolderError(f"{run_dir / layout.RUN_JSON}: 'status' is {status}, not 'succeeded'")
    metrics, document = read_products(run_dir, runs_dir)
    if changed := changed_outputs(run_dir, record, (layout.METRICS_FILE, layout.PREDICTIONS_JSON)):
        raise RunFolderError(
            f"{run_dir / changed[0]}: changed since the run succeeded (its sha256 differs "
            f"from the one {layout.RUN_JSON} recorded), refused"
        )
    return Servable(run_id, run_dir, record, metrics, document)
