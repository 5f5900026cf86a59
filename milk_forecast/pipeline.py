"""One pipeline run: the four notebooks executed by papermill into a fresh run folder.

A recipe of small named steps, in the order ``run_pipeline`` calls them::

    resolve parameters -> describe inputs -> fingerprint -> (skip if served run is identical)
    -> start run -> execute each stage -> verify products -> finish run -> publish LATEST

A run that fails at any step is marked ``failed`` in its ``run.json`` and never
touches ``runs/LATEST``, so the model being served stays the last good one.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import platform
import signal
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

from milk_forecast import checks, kernels, raw, runs
from milk_forecast.stages import (
    NOTEBOOKS_DIR,
    PipelineError,
    Stage,
    load_stages,
    resolve_parameters,
)

PACKAGE_DIR = Path(__file__).resolve().parent
VERSIONED_PACKAGES = (
    "pandas",
    "numpy",
    "scikit-learn",
    "pyarrow",
    "papermill",
    "nbconvert",
    "matplotlib",
)
# The kernel processes' own stdout/stderr (start-up warnings, crashes), kept out of the CLI.
KERNEL_LOG = "kernels.log"

Log = Callable[[str], None]


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM (or SIGINT) arrived while a run was in progress."""


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
        return self.status in (runs.SUCCEEDED, "skipped")


# --- inputs and fingerprint -------------------------------------------------------


def describe_inputs(data_dir: Path) -> dict[str, dict[str, Any]]:
    """sha256 and size of each raw input present; 01_extract reports what is missing or bad."""
    paths = {name: data_dir / name for name in raw.RAW_FILES}
    return {name: raw.file_digest(path) for name, path in paths.items() if path.is_file()}


def code_digest(stages: list[Stage], package_dir: Path = PACKAGE_DIR) -> str:
    """sha256 over the notebooks and the package sources: the code a run executes."""
    digest = hashlib.sha256()
    files = [stage.notebook for stage in stages] + sorted(package_dir.glob("*.py"))
    for path in files:
        digest.update(path.name.encode())
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
        run_id = runs.read_latest(runs_dir)
        if run_id is None:
            return None
        record = runs.read_run_record(runs.run_dir_for(runs_dir, run_id))
    except runs.RunFolderError:
        return None
    if record.get("status") == runs.SUCCEEDED and record.get("fingerprint") == run_fingerprint:
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
    if synthetic:
        data = (
            f"**SYNTHETIC SAMPLE DATA** from `{data_dir}`: generated, not real prices. "
            "Pass `--data-dir` (or put the real CSVs in `data/`) to train the real model."
        )
    else:
        data = f"real data from `{data_dir}`"
    return f"> Executed by `run_pipeline.py` as run `{run_id}` on {data}."


def execute_stage(
    stage: Stage,
    run_dir: Path,
    data_dir: Path,
    parameters: Mapping[str, Any],
    banner: str,
    kernel: Any = None,
) -> None:
    """Execute one notebook into ``run_dir/notebooks``; a failure becomes a StageFailure."""
    output = run_dir / runs.NOTEBOOKS_DIR / stage.notebook.name
    notebook = nbformat.read(stage.notebook, as_version=4)
    notebook.cells.insert(
        0, nbformat.v4.new_markdown_cell(banner, metadata={"tags": ["run-banner"]})
    )
    injected = {"run_dir": str(run_dir), **parameters}
    if "data_dir" in stage.parameters:
        injected["data_dir"] = str(data_dir)
    try:
        papermill.execute_notebook(
            notebook,
            output,
            parameters=injected,
            engine_name=kernels.ENGINE_NAME,
            progress_bar=False,
            cwd=str(stage.notebook.parent),
            km=kernel,
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
    except Exception as exc:  # kernel died, could not start, notebook unreadable...
        raise StageFailure(
            stage=stage.name,
            notebook=str(output),
            exception=type(exc).__name__,
            message=_first_line(str(exc)) or repr(exc),
        ) from None


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
    model = run_dir / runs.MODEL_FILE
    if not model.is_file() or model.stat().st_size == 0:
        raise checks.StageOutputError(f"{model}: was not written")
    runs.read_predictions(run_dir / runs.PREDICTIONS_FILE)
    metrics_path = run_dir / runs.METRICS_FILE
    try:
        metrics = json.loads(metrics_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise checks.StageOutputError(f"{metrics_path}: unreadable ({exc})") from None
    if not isinstance(metrics, dict) or not isinstance(metrics.get("headline"), dict):
        raise checks.StageOutputError(f"{metrics_path}: has no 'headline' object")
    return metrics


@dataclass
class RunContext:
    """A run in progress: its folder and the record mirrored to run.json."""

    runs_dir: Path
    run_id: str
    run_dir: Path
    record: dict[str, Any]
    log: Log

    def save(self) -> None:
        runs.write_run_record(self.run_dir, self.record)


def start_run(
    runs_dir: Path,
    data_dir: Path,
    parameters: dict[str, Any],
    inputs: dict[str, Any],
    run_fingerprint: str,
    log: Log,
) -> RunContext:
    run_id, run_dir = runs.create_run_dir(runs_dir)
    (run_dir / runs.NOTEBOOKS_DIR).mkdir()
    record = {
        "run_id": run_id,
        "status": runs.RUNNING,
        "started_at": runs.isoformat(runs.utc_now()),
        "finished_at": None,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "data_dir": str(data_dir),
        "synthetic_sample": raw.is_synthetic(data_dir),
        "parameters": parameters,
        "inputs": inputs,
        "fingerprint": run_fingerprint,
        "stages": [],
        "versions": package_versions(),
        "headline": None,
        "forecast": None,
        "error": None,
    }
    context = RunContext(runs_dir, run_id, run_dir, record, log)
    context.save()
    return context


def finish_run(context: RunContext, status: str, error: dict[str, Any] | None = None) -> None:
    context.record["status"] = status
    context.record["finished_at"] = runs.isoformat(runs.utc_now())
    context.record["error"] = error
    context.save()


def build_report(context: RunContext) -> None:
    """The run's report.html; a report that cannot be built is a warning, not a failed run."""
    from milk_forecast import report

    try:
        report.build_report(context.run_dir)
    except Exception as exc:
        context.log(f"warning: report.html not written: {type(exc).__name__}: {exc}")


def run_stages(context: RunContext, stages: list[Stage], data_dir: Path) -> None:
    """Execute the stages in order, each on a kernel started (and warmed) one stage ahead."""
    banner = banner_text(context.run_id, data_dir, context.record["synthetic_sample"])
    handlers = {signum: signal.getsignal(signum) for signum in kernels.HANDLED_SIGNALS}
    kernel_log = (context.run_dir / KERNEL_LOG).open("a", encoding="utf-8")
    pool = kernels.KernelPool(kernel_log)

    def prepare(index: int) -> None:
        if index < len(stages):
            stage = stages[index]
            notebook = nbformat.read(stage.notebook, as_version=4)
            pool.prepare(stage.name, stage.notebook.parent, kernels.imports_cell(notebook))

    try:
        prepare(0)
        prepare(1)
        for number, stage in enumerate(stages, start=1):
            kernel = pool.take(stage.name)
            prepare(number + 1)
            try:
                run_stage(context, stage, data_dir, banner, kernel, f"[{number}/{len(stages)}]")
            finally:
                pool.release(kernel)
                for signum, handler in handlers.items():
                    signal.signal(signum, handler)
    finally:
        pool.shutdown_all()
        kernel_log.close()


def run_stage(
    context: RunContext, stage: Stage, data_dir: Path, banner: str, kernel: Any, step: str
) -> None:
    """One stage, timed and mirrored in run.json as it starts and ends."""
    context.log(f"{step} {stage.name} ...")
    entry = {"name": stage.name, "notebook": f"notebooks/{stage.notebook.name}"}
    context.record["stages"].append({**entry, "status": runs.RUNNING, "seconds": None})
    context.save()
    started = time.perf_counter()
    parameters = context.record["parameters"][stage.name]
    try:
        execute_stage(stage, context.run_dir, data_dir, parameters, banner, kernel)
    finally:
        seconds = round(time.perf_counter() - started, 2)
        context.record["stages"][-1]["seconds"] = seconds
    context.record["stages"][-1]["status"] = runs.SUCCEEDED
    context.save()
    context.log(f"{step} {stage.name} done in {seconds:.1f} s")


def run_pipeline(
    data_dir: Path,
    runs_dir: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    force: bool = False,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    log: Log = print,
) -> RunOutcome:
    """Run the four stages once; never raises for a failing stage (see the outcome)."""
    data_dir, runs_dir = data_dir.resolve(), runs_dir.resolve()
    if not data_dir.is_dir():
        raise PipelineError(f"data directory {data_dir} does not exist")
    stages = load_stages(notebooks_dir)
    parameters = resolve_parameters(stages, overrides or {})
    inputs = describe_inputs(data_dir)
    run_fingerprint = fingerprint(inputs, code_digest(stages), parameters)
    if not force:
        existing = served_run_with(runs_dir, run_fingerprint)
        if existing:
            return RunOutcome("skipped", existing, runs_dir / existing)

    context = start_run(runs_dir, data_dir, parameters, inputs, run_fingerprint, log)
    log(f"run {context.run_id} started in {context.run_dir}")
    # The report needs nbconvert (half a second to import): load it while the kernels work.
    threading.Thread(target=importlib.import_module, args=("nbconvert",), daemon=True).start()
    try:
        run_stages(context, stages, data_dir)
        metrics = verify_products(context.run_dir)
    except StageFailure as failure:
        return _fail(context, failure)
    except checks.StageOutputError as exc:
        return _fail(context, StageFailure("verify products", "", type(exc).__name__, str(exc)))
    except BaseException as exc:  # KeyboardInterrupt, RunInterrupted: never leave "running"
        stage = context.record["stages"][-1]["name"] if context.record["stages"] else "start"
        notebook = context.run_dir / runs.NOTEBOOKS_DIR / f"{stage}.ipynb"
        reason = "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__
        _fail(context, StageFailure(stage, str(notebook), reason, str(exc) or "run interrupted"))
        raise
    context.record["headline"] = metrics.get("headline")
    context.record["forecast"] = metrics.get("forecast")
    finish_run(context, runs.SUCCEEDED)
    build_report(context)
    runs.publish_latest(runs_dir, context.run_id)
    return RunOutcome(runs.SUCCEEDED, context.run_id, context.run_dir, context.record)


def _fail(context: RunContext, failure: StageFailure) -> RunOutcome:
    if context.record["stages"] and context.record["stages"][-1]["status"] == runs.RUNNING:
        context.record["stages"][-1]["status"] = runs.FAILED
    finish_run(context, runs.FAILED, failure.as_record())
    build_report(context)
    return RunOutcome(runs.FAILED, context.run_id, context.run_dir, context.record, failure)
