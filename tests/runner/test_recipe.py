"""The run recipe with stages that run no notebook: the order of its steps and its outcomes."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
from fake_runs import Behaviour, dead_pid, fake_notebooks, left_running

from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import FAILED, SUCCEEDED, read_run_record
from milk_forecast.runner import recipe
from milk_forecast.runner.kernels import StageKernels
from milk_forecast.runner.plan import RunPlan
from milk_forecast.runner.stages import STAGE_NAMES, Stage
from milk_forecast.runner.state import ABANDONED, SKIPPED, RunContext, RunOutcome


@pytest.fixture(autouse=True)
def notebooks(monkeypatch: pytest.MonkeyPatch) -> dict[str, Behaviour]:
    return fake_notebooks(monkeypatch)


class RecordingSteps(recipe.RunSteps):
    """The default steps, each recorded when called."""

    def __init__(self) -> None:
        self.called: list[str] = []

    def plan(self, *args: object) -> RunPlan:
        self.called.append("plan")
        return super().plan(*args)

    def stage(self, context: RunContext, stage: Stage, kernels: StageKernels) -> None:
        self.called.append(stage.name)
        super().stage(context, stage, kernels)

    def complete(self, context: RunContext, allow_synthetic_over_real: bool) -> RunOutcome:
        self.called.append("publish")
        return super().complete(context, allow_synthetic_over_real)


def run(sample_data_dir: Path, runs_dir: Path, steps: RecordingSteps, **options) -> RunOutcome:
    return recipe.run_pipeline(
        sample_data_dir, runs_dir, log=lambda line: None, steps=steps, **options
    )


def test_the_recipe_plans_runs_each_stage_then_publishes(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    steps = RecordingSteps()
    outcome = run(sample_data_dir, tmp_path, steps)
    assert steps.called == ["plan", *STAGE_NAMES, "publish"]
    assert outcome.status == SUCCEEDED and read_latest(tmp_path) == outcome.run_id
    record = read_run_record(outcome.run_dir)
    assert [(s["name"], s["status"]) for s in record["stages"]] == [
        (name, SUCCEEDED) for name in STAGE_NAMES
    ]


def test_the_same_plan_again_is_skipped_unless_forced(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    first = run(sample_data_dir, tmp_path, RecordingSteps())
    steps = RecordingSteps()
    skipped = run(sample_data_dir, tmp_path, steps)
    assert skipped.status == SKIPPED and skipped.ok and skipped.run_id == first.run_id
    assert steps.called == ["plan"]
    changed = run(sample_data_dir, tmp_path, RecordingSteps(), overrides={"ridge_alpha": "2"})
    assert changed.status == SUCCEEDED  # other parameters: another fingerprint
    forced = run(sample_data_dir, tmp_path, RecordingSteps(), force=True)
    assert forced.status == SUCCEEDED and read_latest(tmp_path) == forced.run_id


def fails(exc: BaseException) -> Behaviour:
    def behaviour(run_dir: Path) -> None:
        raise exc

    return behaviour


def test_a_failing_stage_fails_the_run_and_nothing_after_it_runs(
    sample_data_dir: Path, tmp_path: Path, notebooks: dict[str, Behaviour]
) -> None:
    served = run(sample_data_dir, tmp_path, RecordingSteps()).run_id
    notebooks["02_clean"] = fails(ValueError("broken on purpose"))
    steps = RecordingSteps()
    outcome = run(sample_data_dir, tmp_path, steps, force=True)
    assert steps.called == ["plan", "01_extract", "02_clean"]
    assert outcome.status == FAILED and not outcome.ok
    assert "stage 02_clean failed" in outcome.failure.describe()
    record = read_run_record(outcome.run_dir)
    assert record["error"]["stage"] == "02_clean" and record["stages"][-1]["status"] == FAILED
    assert read_latest(tmp_path) == served


def test_an_os_error_in_a_step_fails_the_run_naming_the_stage(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/clean_monthly.parquet")

    class FullDisk(RecordingSteps):
        def stage(self, context: RunContext, stage: Stage, kernels: StageKernels) -> None:
            if stage.name == "03_preprocess":
                raise full
            super().stage(context, stage, kernels)

    outcome = run(sample_data_dir, tmp_path, FullDisk())
    error = read_run_record(outcome.run_dir)["error"]
    assert outcome.status == FAILED and error["exception"] == "OSError"
    assert "No space left" in error["message"] and "clean_monthly.parquet" in error["message"]
    assert read_latest(tmp_path) is None


def test_an_interrupted_stage_is_recorded_failed_and_the_interrupt_goes_on(
    sample_data_dir: Path, tmp_path: Path, notebooks: dict[str, Behaviour]
) -> None:
    notebooks["03_preprocess"] = fails(KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        run(sample_data_dir, tmp_path, RecordingSteps())
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    record = read_run_record(run_dir)
    assert record["status"] == FAILED and record["error"]["exception"] == "interrupted"
    assert record["stages"][-1] == {
        **record["stages"][-1],
        "name": "03_preprocess",
        "status": FAILED,
    }
    assert read_latest(tmp_path) is None


def test_the_next_run_settles_a_run_left_running_by_a_process_that_is_gone(
    sample_data_dir: Path, tmp_path: Path
) -> None:
    abandoned = left_running(tmp_path, "20261101T000000Z", dead_pid())
    said: list[str] = []
    recipe.run_pipeline(sample_data_dir, tmp_path, log=said.append, steps=RecordingSteps())
    error = read_run_record(abandoned)["error"]
    assert error["exception"] == ABANDONED and "marked failed by the next run" in error["message"]
    assert f"run {abandoned.name} was left running by a process that is gone" in said[0]
