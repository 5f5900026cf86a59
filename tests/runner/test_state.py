from __future__ import annotations

import dataclasses
import errno
import os
import pickle
import re
import signal
import socket
from pathlib import Path

import pytest
from fake_runs import dead_pid, left_running, plan_for

from milk_forecast.run_folder.layout import REPORT_FILE, RUN_JSON
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


# --- runs left running by a process that is gone (issue 19 items 8 and 14) ----------------


def test_runs_left_running_by_a_process_that_is_gone_are_settled_once(tmp_path: Path) -> None:
    pid = dead_pid()
    in_a_stage = left_running(tmp_path, "20261101T000000Z", pid)
    before_any = left_running(tmp_path, "20261102T000000Z", pid, stage=None)
    alive = left_running(tmp_path, "20261103T000000Z", os.getpid())
    elsewhere = left_running(tmp_path, "20261104T000000Z", pid, host="another-host")
    untouched = {path: (path / RUN_JSON).read_bytes() for path in (alive, elsewhere)}

    assert state.settle_abandoned(tmp_path, "--list") == [before_any.name, in_a_stage.name]
    record = read_run_record(in_a_stage)
    assert record["status"] == FAILED and record["finished_at"] is None
    assert [s["status"] for s in record["stages"]] == ["succeeded", FAILED]
    assert record["published"] is False and record["not_published_reason"] is None
    error = record["error"]
    assert (error["stage"], error["notebook"], error["exception"]) == (
        "02_clean",
        "notebooks/02_clean.ipynb",
        state.ABANDONED,
    )
    assert re.fullmatch(
        rf"its process \(pid {pid} on {re.escape(socket.gethostname())}\) ended without "
        r"finishing the run; marked failed by --list at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
        error["message"],
    )
    assert read_run_record(before_any)["error"]["stage"] == "start"
    assert {path: (path / RUN_JSON).read_bytes() for path in untouched} == untouched
    assert state.settle_abandoned(tmp_path, "--list") == []  # once: they are failed now
