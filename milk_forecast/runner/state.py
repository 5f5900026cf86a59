"""A run in progress: its record mirrored to run.json, how it failed, what it came to."""

from __future__ import annotations

import copy
import dataclasses
import importlib
import os
import platform
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

from milk_forecast.data import raw
from milk_forecast.run_folder import record as run_record
from milk_forecast.run_folder.layout import NOTEBOOKS_DIR, REPORT_FILE, RUN_JSON
from milk_forecast.run_folder.write import create_run_dir, describe_os_error, write_run_record
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.plan import RunPlan

SKIPPED = "skipped"
ABANDONED = "abandoned"  # run.json error.exception: its process ended without finishing it
# The packages whose versions run.json records.
PACKAGES = ("pandas", "numpy", "scikit-learn", "pyarrow", "papermill", "nbconvert", "matplotlib")

Log = Callable[[str], None]


@dataclass(eq=False, repr=False)  # an exception's repr: its message
class StageFailure(Exception):
    """A stage (or a later step) that did not complete; its message is ``describe()``."""

    stage: str
    notebook: str
    exception: str
    message: str
    cell: int | None = None
    cell_source: str | None = None

    def __post_init__(self) -> None:
        super().__init__(self.describe())

    def __reduce__(self) -> tuple[type[StageFailure], tuple[Any, ...]]:
        return type(self), dataclasses.astuple(self)  # pickles (an orchestrator may store it)

    def describe(self) -> str:
        where = f" in notebook {self.notebook}" if self.notebook else ""
        if self.cell is not None:
            code = f" `{self.cell_source}`" if self.cell_source else ""
            where += f", cell In [{self.cell}]{code}"
        return f"stage {self.stage} failed{where}: {self.exception}: {self.message}"


class RunRecordError(Exception):
    """The run folder or its ``run.json`` could not be written: the run's record is stale."""


@dataclass(frozen=True)
class RunOutcome:
    """What a call of ``run_pipeline`` did: ``status`` is succeeded, failed or skipped."""

    status: str
    run_id: str
    run_dir: Path
    record: dict[str, Any] = field(default_factory=dict)
    failure: StageFailure | None = None

    @property
    def ok(self) -> bool:
        return self.status in (run_record.SUCCEEDED, SKIPPED)

    def nothing_to_do(self) -> str:
        """What a skipped run says: which served run was made from the same fingerprint."""
        return (
            f"nothing to do: the served run {self.run_id} was made from the same inputs, "
            f"notebooks, data and model code, and parameters ({self.run_dir})"
        )

    @property
    def unpublished(self) -> bool:
        """Whether the run succeeded but was deliberately not published (the record says why)."""
        return (
            self.status == run_record.SUCCEEDED and self.record.get(run_record.PUBLISHED) is False
        )


@dataclass
class RunContext:
    """A run in progress: its plan, its folder and the record mirrored to run.json."""

    plan: RunPlan
    run_id: str
    run_dir: Path
    record: dict[str, Any]
    log: Log

    def save(self) -> None:
        """Mirror the record to run.json; ``RunRecordError`` when it cannot be written."""
        try:
            write_run_record(self.run_dir, self.record)
        except OSError as exc:
            raise RunRecordError(
                f"run {self.run_id}: cannot write {self.run_dir / RUN_JSON} "
                f"({describe_os_error(exc)}); it may not show the run's true state"
            ) from exc

    def outcome(self, status: str, failure: StageFailure | None = None) -> RunOutcome:
        return RunOutcome(status, self.run_id, self.run_dir, self.record, failure)


def start_run(plan: RunPlan, log: Log = print) -> RunContext:
    """Create the run folder and its run.json (status ``running``)."""
    try:
        run_id, run_dir = create_run_dir(plan.runs_dir, utc_now())
        (run_dir / NOTEBOOKS_DIR).mkdir()
    except OSError as exc:
        raise RunRecordError(
            f"cannot create a run folder in {plan.runs_dir} ({describe_os_error(exc)})"
        ) from exc
    record = {
        "run_id": run_id,
        "status": run_record.RUNNING,
        "started_at": isoformat(utc_now()),
        "finished_at": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "data_dir": os.path.relpath(plan.data_dir, run_dir),  # a run folder can be moved
        "synthetic_sample": raw.is_synthetic(plan.data_dir),
        "parameters": plan.parameters,
        "inputs": plan.inputs,
        "fingerprint": plan.fingerprint,
        "stages": [],
        "versions": package_versions(),
        "headline": None,
        "forecast": None,
        "error": None,
        run_record.PUBLISHED: None,
        run_record.NOT_PUBLISHED_REASON: None,
    }
    context = RunContext(plan, run_id, run_dir, record, log)
    context.save()
    log(f"run {run_id} started in {run_dir}")
    # The report needs nbconvert (half a second to import): load it while the kernels work.
    threading.Thread(target=importlib.import_module, args=("nbconvert",), daemon=True).start()
    return context


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def running_stage(record: dict[str, Any]) -> dict[str, Any] | None:
    """The record's last stage entry when it is still ``running``."""
    stages = record.get("stages") or []
    return stages[-1] if stages and stages[-1].get("status") == run_record.RUNNING else None


def mark_finished(record: dict[str, Any], status: str, failure: StageFailure | None = None) -> None:
    """The record's final status, end time and error, in memory only (``save`` writes it);
    a failure fails the stage still running too."""
    stage = running_stage(record)
    if failure is not None and stage is not None:
        stage["status"] = run_record.FAILED
    record["status"] = status
    record["finished_at"] = isoformat(utc_now())
    record["error"] = dataclasses.asdict(failure) if failure is not None else None
    if status != run_record.SUCCEEDED:
        record[run_record.PUBLISHED] = False
        record[run_record.NOT_PUBLISHED_REASON] = None


def fail_run(context: RunContext, failure: StageFailure) -> RunOutcome:
    """Mark the run (and its running stage) failed with ``failure``; LATEST is not touched."""
    notebook = failure.notebook and os.path.relpath(failure.notebook, context.run_dir)
    recorded = dataclasses.replace(failure, notebook=notebook)  # the run folder can move
    mark_finished(context.record, run_record.FAILED, recorded)
    context.save()
    write_report(context)
    return context.outcome(run_record.FAILED, failure)


def failure_of(context: RunContext, exc: BaseException, step: str | None = None) -> StageFailure:
    """The failure of a run stopped by ``exc`` in the stage running (else ``step``, else
    ``start``). A stop (any exception that is not an ``Exception``: Ctrl-C, an orchestrator's
    termination signal) is ``interrupted``, naming the signal when ``exc`` carries its number."""
    running = running_stage(context.record)
    stage = running["name"] if running else (step or "start")
    notebook = str(context.run_dir / running["notebook"]) if running else ""
    if isinstance(exc, Exception):
        return StageFailure(stage, notebook, type(exc).__name__, error_message(exc))
    number = getattr(exc, "signal", None)
    message = f"stopped by {signal.Signals(number).name}" if isinstance(number, int) else ""
    return StageFailure(stage, notebook, "interrupted", message or str(exc) or "run interrupted")


def settle_run(
    summary: run_record.RunSummary, exception: str, message: str, finished_at: str | None
) -> None:
    """Write ``summary``'s run.json (a run left ``running``) as ``failed``: its running stage
    failed, ``error`` naming that stage (else ``start``, or ``complete`` after the last one),
    ``exception`` and ``message``; ``OSError`` if it cannot be written."""
    record = copy.deepcopy(summary.record)
    running = running_stage(record)
    stage = running["name"] if running else ("complete" if record.get("stages") else "start")
    notebook = str(running.get("notebook") or "") if running else ""
    mark_finished(record, run_record.FAILED, StageFailure(str(stage), notebook, exception, message))
    record["finished_at"] = finished_at
    write_run_record(summary.path, record)


def abandoned_runs(runs_dir: Path) -> Iterator[run_record.RunSummary]:
    """The runs left ``running`` by a gone process of this host (``incomplete``, not broken)."""
    for summary in run_record.list_runs(runs_dir):
        if summary.status == run_record.INCOMPLETE and summary.error is None:
            yield summary


def settle_abandoned(runs_dir: Path, by: str) -> list[str]:
    """Mark ``failed`` (``abandoned``) the runs left ``running`` by a process of this host
    that is gone (``incomplete``): the ids settled. ``by`` says who found them. A run of
    another host (whether its process lives is unknown) and a read-only run.json are left."""
    settled = []
    for summary in abandoned_runs(runs_dir):
        record = summary.record
        message = (
            f"its process (pid {record.get('pid')} on {record.get('host')}) ended without "
            f"finishing the run; marked failed by {by} at {isoformat(utc_now())}"
        )
        try:
            settle_run(summary, ABANDONED, message, finished_at=None)
        except OSError:  # a read-only runs folder: it stays incomplete
            continue
        settled.append(summary.run_id)
    return settled


def write_report(context: RunContext) -> None:
    """The run's report.html from the record in memory; a failure is a warning, not a failed run."""
    from milk_forecast.runner import report

    try:
        report.build_report(context.run_dir, context.record)
    except Exception as exc:
        where = context.run_dir / REPORT_FILE
        context.log(f"warning: {where} not written: {type(exc).__name__}: {error_message(exc)}")


def error_message(exc: BaseException) -> str:
    """The first line of ``exc``'s message; for an OS error, its message and file."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return first_line(str(exc)) or repr(exc)


def first_line(text: str) -> str:
    return next((line for line in str(text).strip().splitlines() if line.strip()), "")
