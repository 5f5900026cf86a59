from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import signal
from pathlib import Path

import pytest
from fake_runs import plan_for

from milk_forecast.run_folder.layout import REPORT_FILE
from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import FAILED, RUNNING, read_run_record
from milk_forecast.runner import state
from milk_forecast.runner.signals import RunInterrupted


def test_stage_failure_description_names_notebook_cell_and_exception() -> None:
    failure = state.StageFailure(
        "02_clean", "runs/x/notebooks/02_clean.ipynb", "ValueError", "bad month 'Foo'", 4, "clean()"
    )
    text = failure.describe()
    assert "02_clean.ipynb" in text and "In [4]" in text and "ValueError: bad month 'Foo'" in text
    assert str(failure) == text


def test_a_failure_outside_any_notebook_names_the_check() -> None:
    failure = state.StageFailure(
        "verify products", "", "StageOutputError", "predictions.parquet: has no rows"
    )
    assert failure.describe() == (
        "stage verify products failed: StageOutputError: predictions.parquet: has no rows"
    )


def test_a_stage_failure_survives_pickling() -> None:
    """An orchestrator may store the exception of a failed task."""
    failure = state.StageFailure("02_clean", "nb.ipynb", "ValueError", "bad", 3, "clean()")
    copy = pickle.loads(pickle.dumps(failure))
    assert dataclasses.asdict(copy) == dataclasses.asdict(failure) and str(copy) == str(failure)


class TerminationSignal(BaseException):
    """Like an orchestrator's bridge for SIGTERM: not an Exception, carrying the number."""

    def __init__(self, number: int) -> None:
        self.signal = number


@pytest.mark.parametrize(
    ("stop", "message"),
    [
        (RunInterrupted("stopped by SIGINT"), "stopped by SIGINT"),
        (KeyboardInterrupt(), "run interrupted"),
        (TerminationSignal(signal.SIGTERM), "stopped by SIGTERM"),
    ],
)
def test_a_stop_during_a_stage_fails_it_as_interrupted(
    tmp_path: Path, stop: BaseException, message: str
) -> None:
    context = state.start_run(plan_for(tmp_path), log=lambda line: None)
    context.record["stages"].append(
        {"name": "02_clean", "notebook": "notebooks/02_clean.ipynb", "status": RUNNING}
    )
    outcome = state.fail_run(context, state.failure_of(context, stop))
    record = read_run_record(context.run_dir)
    assert outcome.status == record["status"] == FAILED
    assert record["stages"][-1]["status"] == FAILED
    assert record["error"]["stage"] == "02_clean" and record["error"]["exception"] == "interrupted"
    assert record["error"]["message"] == message
    assert record["error"]["notebook"].endswith("notebooks/02_clean.ipynb")
    assert (context.run_dir / REPORT_FILE).is_file()
    assert read_latest(context.plan.runs_dir) is None


def test_an_os_error_outside_a_stage_names_the_step_and_the_file(tmp_path: Path) -> None:
    context = state.start_run(plan_for(tmp_path), log=lambda line: None)
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/LATEST")
    failure = state.failure_of(context, error, "publish")
    assert (failure.stage, failure.notebook, failure.exception) == ("publish", "", "OSError")
    assert "No space left on device" in failure.message and "/x/LATEST" in failure.message


def test_a_run_folder_that_cannot_be_created_raises_naming_the_runs_folder(
    tmp_path: Path,
) -> None:
    (tmp_path / "runs").write_text("a file, not a folder")
    with pytest.raises(state.RunRecordError, match=r"cannot create a run folder in .*runs"):
        state.start_run(plan_for(tmp_path), log=lambda message: None)


def test_a_started_run_says_running_with_its_plan(tmp_path: Path) -> None:
    context = state.start_run(plan_for(tmp_path, synthetic=True), log=lambda line: None)
    record = read_run_record(context.run_dir)
    assert record["status"] == RUNNING and record["run_id"] == context.run_dir.name
    assert record["synthetic_sample"] is True and record["fingerprint"] == "fp"
    assert record["pid"] == os.getpid() and "pandas" in record["versions"]
