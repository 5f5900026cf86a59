from __future__ import annotations

import errno
import os
from pathlib import Path

import nbformat
import pytest
from fake_runs import started_run

from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import FAILED, read_run_record
from milk_forecast.runner import execute
from milk_forecast.runner.stages import Stage
from milk_forecast.runner.state import StageFailure, fail_run


def one_stage(tmp_path: Path, name: str = "02_clean") -> Stage:
    notebook = tmp_path / f"{name}.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), notebook)
    return Stage(name, notebook, {})


def test_a_full_disk_in_a_stage_fails_the_run_naming_stage_file_and_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = one_stage(tmp_path)
    context = started_run(tmp_path, stages=[stage])
    product = context.run_dir / "clean_monthly.parquet"

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(product))

    monkeypatch.setattr(execute.papermill, "execute_notebook", full)
    with pytest.raises(StageFailure) as failure:
        execute.run_stage(context, stage, None)
    assert read_run_record(context.run_dir)["stages"][-1]["status"] == FAILED  # at once
    outcome = fail_run(context, failure.value)
    error = read_run_record(context.run_dir)["error"]
    assert outcome.status == FAILED
    assert error["stage"] == "02_clean" and error["exception"] == "OSError"
    assert "No space left on device" in error["message"] and str(product) in error["message"]
    assert read_latest(context.plan.runs_dir) is None


def test_a_retried_stage_gets_an_entry_per_attempt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = one_stage(tmp_path)
    context = started_run(tmp_path, stages=[stage])
    attempts: list[dict] = []

    def flaky(notebook: object, output: Path, **kwargs: object) -> None:
        attempts.append(kwargs)
        if len(attempts) == 1:
            raise RuntimeError("fails the first time")

    monkeypatch.setattr(execute.papermill, "execute_notebook", flaky)
    with pytest.raises(StageFailure, match="RuntimeError: fails the first time"):
        execute.run_stage(context, stage, None)
    execute.run_stage(context, stage, None)
    stages = read_run_record(context.run_dir)["stages"]
    assert [(s["name"], s["status"]) for s in stages] == [
        ("02_clean", "failed"),
        ("02_clean", "succeeded"),
    ]
    assert all(s["seconds"] is not None for s in stages)
    # from the executed notebook's folder, through the runs folder
    assert attempts[-1]["parameters"] == {"run_dir": f"../../{context.run_id}"}


def test_the_banner_says_which_run_and_which_data(tmp_path: Path) -> None:
    assert "SYNTHETIC" in execute.banner_text("r1", "../../data", synthetic=True)
    real = execute.banner_text("r1", "../../data", synthetic=False)
    assert "`r1`" in real and "`../../data`" in real and "SYNTHETIC" not in real
