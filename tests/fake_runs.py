"""Runs of the runner started without any notebook, for tests: products written as 04 would."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest
from run_factory import LEVELS, build_metrics, build_rows, predictions_document

from milk_forecast.data.columns import SYNTHETIC_MARKER
from milk_forecast.run_folder.layout import METRICS_FILE, PREDICTIONS_JSON
from milk_forecast.run_folder.record import RUNNING
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.runner import execute
from milk_forecast.runner.kernels import StageKernels
from milk_forecast.runner.plan import RunPlan
from milk_forecast.runner.stages import Stage
from milk_forecast.runner.state import RunContext, start_run


def write_products(run_dir: Path) -> None:
    """The products of a complete train stage that the service reads."""
    (run_dir / METRICS_FILE).write_text(json.dumps(build_metrics(build_rows())))
    (run_dir / PREDICTIONS_JSON).write_text(json.dumps(predictions_document(build_rows(), LEVELS)))


def data_folder(tmp_path: Path, synthetic: bool) -> Path:
    data_dir = tmp_path / ("sample" if synthetic else "real")
    data_dir.mkdir(exist_ok=True)
    if synthetic:
        (data_dir / SYNTHETIC_MARKER).write_text("")
    return data_dir


def plan_for(tmp_path: Path, synthetic: bool = False, stages: list[Stage] | None = None) -> RunPlan:
    """A plan of ``stages`` (none by default) on an empty data folder, runs in tmp_path/runs."""
    stages = stages or []
    parameters = {stage.name: {} for stage in stages}
    return RunPlan(
        data_folder(tmp_path, synthetic), tmp_path / "runs", stages, parameters, {}, "fp"
    )


def started_run(
    tmp_path: Path, synthetic: bool = False, stages: list[Stage] | None = None
) -> RunContext:
    """A run started on ``plan_for``, its products written as the last stage would."""
    context = start_run(plan_for(tmp_path, synthetic, stages), log=lambda message: None)
    write_products(context.run_dir)
    return context


Behaviour = Callable[[Path], None]


def fake_notebooks(
    monkeypatch: pytest.MonkeyPatch, behaviours: dict[str, Behaviour] | None = None
) -> dict[str, Behaviour]:
    """Stages that run no notebook and start no kernel: ``behaviours[stage](run_dir)`` runs
    instead (by default 04_train writes the products, the others do nothing; an exception
    fails the stage). Returns the behaviours, to change them."""
    behaviours = {"04_train": write_products, **(behaviours or {})}

    def execute_notebook(notebook: object, output: str, parameters: dict, **kwargs: object):
        # run_dir is given from the executed notebook's folder: ../../<run_id>
        run_dir = Path(os.path.normpath(Path(output).parent / parameters["run_dir"]))
        behaviours.get(Path(output).stem, lambda run_dir: None)(run_dir)

    monkeypatch.setattr(execute.papermill, "execute_notebook", execute_notebook)
    monkeypatch.setattr(
        StageKernels, "take", lambda self, stage: SimpleNamespace(stop=lambda: None)
    )
    return behaviours


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def left_running(
    runs_dir: Path, run_id: str, pid: int, host: str | None = None, stage: str | None = "02_clean"
) -> Path:
    """A run folder whose run.json says ``running`` for process ``pid`` of ``host`` (this one
    by default), in ``stage`` (after 01_extract) or before any stage (None)."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    stages = []
    if stage is not None:
        stages = [
            {"name": "01_extract", "notebook": "notebooks/01_extract.ipynb", "status": "succeeded",
             "seconds": 1.5},
            {"name": stage, "notebook": f"notebooks/{stage}.ipynb", "status": RUNNING,
             "seconds": None},
        ]  # fmt: skip
    record = {
        "run_id": run_id,
        "status": RUNNING,
        "started_at": "2026-11-01T00:00:00Z",
        "finished_at": None,
        "pid": pid,
        "host": host or socket.gethostname(),
        "stages": stages,
        "error": None,
        "published": None,
    }
    write_run_record(run_dir, record)
    return run_dir
