"""One pipeline run: the four notebooks executed by papermill into a fresh run folder.

A recipe of small named steps, in the order ``run_pipeline`` calls them (an orchestrator
can call them itself, one task per stage)::

    plan_run (parameters, inputs, fingerprint) -> skipped_outcome (served run identical?)
    -> start_run -> run_stage for each stage (on StageKernels) -> complete_run
       (verify products, decide publication, report, then publish) | fail_run

A run that fails at any step (an OS error such as a full disk included) is marked
``failed`` in its ``run.json``, naming the stage, the file and the message, and never
touches ``runs/LATEST``, so the model being served stays the last good one.

Publishing is one step no SIGINT/SIGTERM can split (``publish_run``): ``run.json``
says ``succeeded`` only together with ``LATEST`` naming the run, or with
``published: false`` and the reason when the run was deliberately not published
(a run on the synthetic sample never replaces a served run made from real data,
unless ``allow_synthetic_over_real``). When ``run.json`` itself cannot be written,
``RunRecordError`` says so (the runner cannot record the run's state).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import nbformat
import papermill

from milk_forecast.data import raw
from milk_forecast.data.columns import RAW_FILES
from milk_forecast.run_folder.latest import read_latest
from milk_forecast.run_folder.layout import (
    KERNEL_LOG,
    NOTEBOOKS_DIR,
    PUBLICATIONS_FILE,
    REPORT_FILE,
    RUN_JSON,
    RunFolderError,
    run_dir_for,
)
from milk_forecast.run_folder.metrics import DRIFT, FORECAST_PATH, TRACK_RECORD
from milk_forecast.run_folder.publications import PUBLISHED_BY_PIPELINE
from milk_forecast.run_folder.record import (
    FAILED,
    NOT_PUBLISHED_REASON,
    PUBLISHED,
    REAL_SOURCE,
    RUNNING,
    SUCCEEDED,
    SYNTHETIC_KEY,
    SYNTHETIC_SOURCE,
    data_label,
    data_source,
    read_run_record,
)
from milk_forecast.run_folder.servable import read_products
from milk_forecast.run_folder.write import (
    append_publication,
    create_run_dir,
    describe_os_error,
    staged_latest,
    write_run_record,
)
from milk_forecast.runner import kernels
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.publish import publication
from milk_forecast.runner.signals import Interrupts, deferred_signals
from milk_forecast.runner.stages import (
    NOTEBOOKS_DIR as STAGE_NOTEBOOKS,
)
from milk_forecast.runner.stages import (
    PROJECT_ROOT,
    PipelineError,
    Stage,
    load_stages,
    resolve_parameters,
)

PACKAGE_DIR = Path(__file__).resolve().parents[1]
VERSIONED_PACKAGES = (
    "pandas",
    "numpy",
    "scikit-learn",
    "pyarrow",
    "papermill",
    "nbconvert",
    "matplotlib",
)

Log = Callable[[str], None]


@dataclass(eq=False)
class StageFailure(Exception):
    """A stage that did not complete; ``describe`` is what the user reads."""

    stage: str
    notebook: str
    exception: str
    message: str
    cell: int | None = None
    cell_source: str | None = None

    def describe(self) -> str:
        where = f" in notebook {self.notebook}" if self.notebook else ""
        if self.cell is not None:
            code = f" `{self.cell_source}`" if self.cell_source else ""
            where += f", cell In [{self.cell}]{code}"
        return f"stage {self.stage} failed{where}: {self.exception}: {self.message}"

    def as_record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "notebook": self.notebook,
            "cell": self.cell,
            "cell_source": self.cell_source,
            "exception": self.exception,
            "message": self.message,
        }


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
        return self.status in (SUCCEEDED, "skipped")

    @property
    def published(self) -> bool:
        """Whether this run succeeded and now is the served run (``LATEST``)."""
        return self.status == SUCCEEDED and self.record.get(PUBLISHED) is not False

    @property
    def unpublished(self) -> bool:
        """Whether the run succeeded but was deliberately not published (the record says why)."""
        return self.status == SUCCEEDED and self.record.get(PUBLISHED) is False


# --- inputs and fingerprint -------------------------------------------------------


def describe_inputs(data_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of each raw input present; 01_extract reports what is missing or bad.

    An input that is present but cannot be read is a ``PipelineError`` naming it.
    """
    described = {}
    for name in RAW_FILES:
        path = data_dir / name
        if not path.is_file():
            continue
        try:
            described[name] = raw.file_digest(path)
        except OSError as exc:
            raise PipelineError(f"input {path} cannot be read ({describe_os_error(exc)})") from None
    return described


def code_digest(stages: list[Stage], package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the notebooks and every source file of the package, subpackages included."""
    digest = hashlib.sha256()
    sources = sorted(package_dir.rglob("*.py"), key=lambda path: path.relative_to(package_dir))
    for path in [stage.notebook for stage in stages]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    for path in sources:
        digest.update(path.relative_to(package_dir).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def fingerprint(inputs: Mapping[str, Any], code: str, parameters: Mapping[str, Any]) -> str:
    """What decides whether a rerun would redo the same work: inputs by hash, code, parameters."""
    payload = json.dumps(
        {"inputs": {k: v["sha256"] for k, v in inputs.items()}, "code": code, "params": parameters},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def served_run_with(runs_dir: Path, run_fingerprint: str) -> str | None:
    """The id of the served run (``LATEST``) when it was made from exactly this fingerprint."""
    try:
        run_id = read_latest(runs_dir)
        if run_id is None:
            return None
        record = read_run_record(run_dir_for(runs_dir, run_id))
    except RunFolderError:
        return None
    if record.get("status") == SUCCEEDED and record.get("fingerprint") == run_fingerprint:
        return run_id
    return None


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


# --- one stage --------------------------------------------------------------------


def banner_text(run_id: str, data_dir: Path, synthetic: bool) -> str:
    """The first cell of every executed notebook: which run, which data."""
    text = f"> Executed as run `{run_id}` on **{data_label(synthetic)}** from `{data_dir}`."
    if synthetic:
        text += " Pass `--data-dir` (or put the real CSVs in `data/`) to train the real model."
    return text


def execute_stage(
    stage: Stage,
    run_dir: Path,
    data_dir: Path,
    parameters: Mapping[str, Any],
    banner: str,
    kernel: Any = None,
    before_cells: Callable[[], None] | None = None,
) -> None:
    """Execute one notebook into ``run_dir/notebooks``; a failure becomes a StageFailure.

    ``before_cells`` is called once the kernel is set up, right before the cells run.
    """
    output = run_dir / NOTEBOOKS_DIR / stage.notebook.name
    injected = {"run_dir": str(run_dir), **parameters}
    if "data_dir" in stage.parameters:
        injected["data_dir"] = str(data_dir)
    try:
        notebook = nbformat.read(stage.notebook, as_version=4)
        notebook.cells.insert(
            0, nbformat.v4.new_markdown_cell(banner, metadata={"tags": ["run-banner"]})
        )
        papermill.execute_notebook(
            notebook,
            output,
            parameters=injected,
            engine_name=kernels.ENGINE_NAME,
            progress_bar=False,
            cwd=str(stage.notebook.parent),
            km=kernel,
            before_cells=before_cells,
        )
    except papermill.PapermillExecutionError as exc:
        raise StageFailure(
            stage=stage.name,
            notebook=str(output),
            exception=exc.ename,
            message=_first_line(exc.evalue),
            cell=exc.exec_count,
            cell_source=_first_code_line(exc.source),
        ) from None
    except Exception as exc:  # kernel died, could not start, notebook unreadable, disk full...
        raise StageFailure(
            stage=stage.name,
            notebook=str(output),
            exception=type(exc).__name__,
            message=_error_message(exc),
        ) from None


def _error_message(exc: BaseException) -> str:
    """The first line of ``exc``'s message; for an OS error, its message and file."""
    if isinstance(exc, OSError):
        return describe_os_error(exc)
    return _first_line(str(exc)) or repr(exc)


def _first_line(text: str) -> str:
    lines = [line for line in str(text).strip().splitlines() if line.strip()]
    return lines[0] if lines else ""


def _first_code_line(source: str) -> str:
    for line in str(source).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


# --- verifying and publishing -------------------------------------------------------


def verify_products(run_dir: Path) -> dict[str, Any]:
    """The final products exist and are consistent; returns metrics.json's content."""
    return read_products(run_dir, run_dir.parent)[0]


# --- the steps of a run, in order -----------------------------------------------------


@dataclass(frozen=True)
class RunPlan:
    """What a run will do, decided before anything is written: stages, parameters, inputs."""

    data_dir: Path
    runs_dir: Path
    stages: list[Stage]
    parameters: dict[str, dict[str, Any]]
    inputs: dict[str, dict[str, Any]]
    fingerprint: str


def plan_run(
    data_dir: Path,
    runs_dir: Path,
    overrides: Mapping[str, str] | None = None,
    notebooks_dir: Path = STAGE_NOTEBOOKS,
) -> RunPlan:
    """Resolve and check the parameters, describe the inputs, compute the fingerprint."""
    data_dir, runs_dir = data_dir.resolve(), runs_dir.resolve()
    if not data_dir.is_dir():
        raise PipelineError(f"data directory {data_dir} does not exist")
    stages = load_stages(notebooks_dir)
    parameters = resolve_parameters(stages, overrides or {})
    inputs = describe_inputs(data_dir)
    run_fingerprint = fingerprint(inputs, code_digest(stages), parameters)
    return RunPlan(data_dir, runs_dir, stages, parameters, inputs, run_fingerprint)


def skipped_outcome(plan: RunPlan) -> RunOutcome | None:
    """The outcome "nothing to redo" when the served run was made from the same plan."""
    existing = served_run_with(plan.runs_dir, plan.fingerprint)
    return RunOutcome("skipped", existing, plan.runs_dir / existing) if existing else None


@dataclass
class RunContext:
    """A run in progress: its plan, its folder and the record mirrored to run.json."""

    plan: RunPlan
    run_id: str
    run_dir: Path
    record: dict[str, Any]
    log: Log
    interrupts: Interrupts = field(default_factory=Interrupts)

    def save(self) -> None:
        """Mirror the record to run.json; ``RunRecordError`` when it cannot be written."""
        try:
            write_run_record(self.run_dir, self.record)
        except OSError as exc:
            raise RunRecordError(
                f"run {self.run_id}: cannot write {self.run_dir / RUN_JSON} "
                f"({describe_os_error(exc)}); it may not show the run's true state"
            ) from exc


def start_run(plan: RunPlan, log: Log = print, interrupts: Interrupts | None = None) -> RunContext:
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
        "status": RUNNING,
        "started_at": isoformat(utc_now()),
        "finished_at": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "data_dir": str(plan.data_dir),
        "synthetic_sample": raw.is_synthetic(plan.data_dir),
        "parameters": plan.parameters,
        "inputs": plan.inputs,
        "fingerprint": plan.fingerprint,
        "stages": [],
        "versions": package_versions(),
        "headline": None,
        "forecast": None,
        "error": None,
        PUBLISHED: None,
        NOT_PUBLISHED_REASON: None,
    }
    context = RunContext(plan, run_id, run_dir, record, log, interrupts or Interrupts())
    context.save()
    log(f"run {run_id} started in {run_dir}")
    # The report needs nbconvert (half a second to import): load it while the kernels work.
    threading.Thread(target=importlib.import_module, args=("nbconvert",), daemon=True).start()
    return context


def kernel_environment(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``environ`` (default: the runner's) with this checkout first on ``PYTHONPATH``.

    The kernels then import this checkout's ``milk_forecast``, never another copy
    installed in the same environment (an editable install of another clone).
    """
    env = dict(environ)
    paths = [str(PROJECT_ROOT), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


class StageKernels:
    """Kernels for a run's stages, each started (and warmed up) one stage ahead.

    ``with StageKernels(context) as kernels:`` then ``kernels.take(stage)`` for each
    stage in order; every kernel is stopped when the block ends.
    """

    def __init__(self, context: RunContext) -> None:
        self.stages = context.plan.stages
        self._log = (context.run_dir / KERNEL_LOG).open("a", encoding="utf-8")
        self._pool = kernels.KernelPool(self._log, env=kernel_environment())
        self._taken: set[str] = set()

    def __enter__(self) -> StageKernels:
        self._prepare(0)
        self._prepare(1)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._pool.shutdown_all()
        self._log.close()

    def take(self, stage: Stage) -> Any:
        """The kernel prepared for ``stage``; prepares the one two stages ahead.

        Taking a stage again (an orchestrator retrying it) gets a fresh kernel.
        """
        index = self.stages.index(stage)
        if stage.name in self._taken:
            self._prepare(index)
            return self._pool.take(stage.name)
        self._taken.add(stage.name)
        kernel = self._pool.take(stage.name)
        self._prepare(index + 2)
        return kernel

    def release(self, kernel: Any) -> None:
        self._pool.release(kernel)

    def _prepare(self, index: int) -> None:
        if index < len(self.stages):
            stage = self.stages[index]
            notebook = nbformat.read(stage.notebook, as_version=4)
            self._pool.prepare(stage.name, stage.notebook.parent, kernels.imports_cell(notebook))


def run_stage(context: RunContext, stage: Stage, kernel: Any = None) -> None:
    """One stage, timed and mirrored in run.json as it starts and ends; StageFailure if it fails."""
    number, total = context.plan.stages.index(stage) + 1, len(context.plan.stages)
    step = f"[{number}/{total}]"
    context.log(f"{step} {stage.name} ...")
    entry = {"name": stage.name, "notebook": f"notebooks/{stage.notebook.name}"}
    context.record["stages"].append({**entry, "status": RUNNING, "seconds": None})
    context.save()
    banner = banner_text(context.run_id, context.plan.data_dir, context.record["synthetic_sample"])
    started = time.perf_counter()
    try:
        execute_stage(
            stage,
            context.run_dir,
            context.plan.data_dir,
            context.record["parameters"][stage.name],
            banner,
            kernel,
            context.interrupts.reinstall,
        )
    finally:
        seconds = round(time.perf_counter() - started, 2)
        context.record["stages"][-1]["seconds"] = seconds
        context.interrupts.reinstall()
    context.record["stages"][-1]["status"] = SUCCEEDED
    context.save()
    context.log(f"{step} {stage.name} done in {seconds:.1f} s")


def run_stages(context: RunContext) -> None:
    """Execute the stages in order, each on a kernel started one stage ahead."""
    with StageKernels(context) as stage_kernels:
        for stage in context.plan.stages:
            kernel = stage_kernels.take(stage)
            try:
                run_stage(context, stage, kernel)
            finally:
                stage_kernels.release(kernel)


def finish_run(context: RunContext, status: str, error: dict[str, Any] | None = None) -> None:
    """Mark the run ``status`` in memory and in run.json."""
    mark_finished(context, status, error)
    context.save()


def mark_finished(context: RunContext, status: str, error: dict[str, Any] | None = None) -> None:
    """The record's final status, end time and error, in memory only (``save`` writes it)."""
    context.record["status"] = status
    context.record["finished_at"] = isoformat(utc_now())
    context.record["error"] = error
    if status != SUCCEEDED:
        context.record[PUBLISHED] = False
        context.record[NOT_PUBLISHED_REASON] = None


def build_report(context: RunContext) -> None:
    """The run's report.html from the record in memory; a failure is a warning, not a failed run."""
    from milk_forecast.runner import report

    try:
        report.build_report(context.run_dir, context.record)
    except Exception as exc:
        context.log(f"warning: {context.run_dir / REPORT_FILE} not written: {_error_text(exc)}")


def publication_refusal(runs_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why a succeeded run must not replace the served one, or None to publish it.

    A run on the synthetic sample is not published over a served run made from real
    data (a forgotten ``--data-dir`` or mount must not put made-up prices online).
    """
    if data_source(record.get(SYNTHETIC_KEY)) != SYNTHETIC_SOURCE:
        return None
    try:
        served_id = read_latest(runs_dir)
        if served_id is None:
            return None
        served = read_run_record(run_dir_for(runs_dir, served_id))
    except RunFolderError:  # nothing servable is named: nothing real to protect
        return None
    if data_source(served.get(SYNTHETIC_KEY)) != REAL_SOURCE:
        return None
    return (
        f"it ran on the synthetic sample, and the served run {served_id} was made from "
        "real data: a synthetic run never replaces a real one unless asked to"
    )


def complete_run(context: RunContext, *, allow_synthetic_over_real: bool = False) -> RunOutcome:
    """After the last stage: verify the products, decide publication, report, publish.

    ``allow_synthetic_over_real``: publish a run on the synthetic sample even over a
    served run made from real data (see ``publication_refusal``).
    """
    try:
        metrics = verify_products(context.run_dir)
        for key in ("headline", "forecast", FORECAST_PATH, TRACK_RECORD, DRIFT):
            context.record[key] = metrics.get(key)
        refusal = (
            None
            if allow_synthetic_over_real
            else publication_refusal(context.plan.runs_dir, context.record)
        )
        mark_finished(context, SUCCEEDED)
        context.record[PUBLISHED] = refusal is None
        context.record[NOT_PUBLISHED_REASON] = refusal
        build_report(context)
    except RunFolderError as exc:
        return fail_run(context, StageFailure("verify products", "", type(exc).__name__, str(exc)))
    except OSError as exc:
        return fail_run(context, failure_of(context, exc, "complete"))
    except BaseException as exc:  # interrupted: never leave "running"
        fail_run(context, failure_of(context, exc, "complete"))
        raise
    return publish_run(context)


def publish_run(context: RunContext) -> RunOutcome:
    """Write run.json ``succeeded`` and, when published, ``LATEST``: as one step.

    SIGINT/SIGTERM are held back until both are written (``deferred_signals``).
    ``LATEST`` is written beside its place first (taking the disk space), then
    run.json, then ``LATEST`` is renamed into place: a full disk fails the run before
    run.json says ``succeeded``. A rename that fails puts run.json back to ``failed``.
    """
    runs_dir, run_id = context.plan.runs_dir, context.run_id
    with deferred_signals():
        try:
            if not context.record[PUBLISHED]:
                context.save()
                return RunOutcome(SUCCEEDED, run_id, context.run_dir, context.record)
            with staged_latest(runs_dir, run_id) as commit_latest:
                context.save()
                commit_latest()
        except OSError as exc:
            return fail_run(context, failure_of(context, exc, "publish"))
    log_publication(runs_dir, run_id, PUBLISHED_BY_PIPELINE, context.log)
    return RunOutcome(SUCCEEDED, run_id, context.run_dir, context.record)


def log_publication(runs_dir: Path, run_id: str, by: str, log: Log) -> None:
    """Append to the publication log; LATEST already moved, so a failure is only a warning."""
    try:
        append_publication(runs_dir, publication(run_id, by))
    except (OSError, RunFolderError) as exc:
        log(f"warning: {runs_dir / PUBLICATIONS_FILE} not updated: {_error_text(exc)}")


def fail_run(context: RunContext, failure: StageFailure) -> RunOutcome:
    """Mark the run (and its running stage) failed with ``failure``; LATEST is not touched."""
    if context.record["stages"] and context.record["stages"][-1]["status"] == RUNNING:
        context.record["stages"][-1]["status"] = FAILED
    mark_finished(context, FAILED, failure.as_record())
    context.save()
    build_report(context)
    return RunOutcome(FAILED, context.run_id, context.run_dir, context.record, failure)


def failure_of(context: RunContext, exc: BaseException, step: str | None = None) -> StageFailure:
    """The failure recorded for a run stopped by ``exc``: a signal, an OS error, anything.

    Names the stage running (else ``step``, else ``start``), and for an OS error
    its message and file.
    """
    stages = context.record["stages"]
    running = stages[-1]["name"] if stages and stages[-1]["status"] == RUNNING else None
    stage = running or step or "start"
    notebook = str(context.run_dir / NOTEBOOKS_DIR / f"{stage}.ipynb") if running else ""
    if isinstance(exc, KeyboardInterrupt):
        return StageFailure(stage, notebook, "interrupted", str(exc) or "run interrupted")
    return StageFailure(stage, notebook, type(exc).__name__, _error_message(exc))


def interrupted(context: RunContext, exc: BaseException) -> StageFailure:
    """The failure recorded for a run stopped by a signal (or an unexpected error)."""
    return failure_of(context, exc)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_error_message(exc)}"


def run_pipeline(
    data_dir: Path,
    runs_dir: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    force: bool = False,
    notebooks_dir: Path = STAGE_NOTEBOOKS,
    log: Log = print,
    interrupts: Interrupts | None = None,
    allow_synthetic_over_real: bool = False,
) -> RunOutcome:
    """Run the four stages once; never raises for a failing stage (see the outcome).

    ``interrupts``: the caller's SIGINT/SIGTERM handling, put back after the notebook
    machinery replaced it (see ``signals``); without it signals are left alone.
    Raises ``RunRecordError`` when the run folder or its run.json cannot be written,
    and ``KeyboardInterrupt`` (after recording the run failed) when interrupted.
    """
    plan = plan_run(data_dir, runs_dir, overrides, notebooks_dir)
    skipped = None if force else skipped_outcome(plan)
    if skipped is not None:
        return skipped
    context = start_run(plan, log, interrupts)
    try:
        run_stages(context)
    except StageFailure as failure:
        return fail_run(context, failure)
    except OSError as exc:  # a full disk, a file that vanished: the run failed
        return fail_run(context, failure_of(context, exc))
    except BaseException as exc:  # KeyboardInterrupt, RunInterrupted: never leave "running"
        fail_run(context, failure_of(context, exc))
        raise
    return complete_run(context, allow_synthetic_over_real=allow_synthetic_over_real)
