"""One stage: its notebook executed by papermill's standard engine into the run folder.

``run_stage`` times the stage and mirrors it in run.json as it starts and ends;
``execute_stage`` injects the parameters and a banner cell, runs the notebook on the
kernel it is given (started ahead, see ``kernels``) and turns any failure into a
``StageFailure`` naming the notebook, the cell and the exception.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat
import papermill

from milk_forecast.data.raw import data_label
from milk_forecast.run_folder.layout import NOTEBOOKS_DIR
from milk_forecast.run_folder.record import FAILED, RUNNING, SUCCEEDED
from milk_forecast.runner.kernels import StageKernel
from milk_forecast.runner.stages import Stage
from milk_forecast.runner.state import RunContext, StageFailure, error_message, first_line


def run_stage(context: RunContext, stage: Stage, kernel: StageKernel | None) -> None:
    """One stage, timed and mirrored in run.json as it starts and ends; StageFailure if it fails.

    A failed attempt's entry says ``failed`` at once, so a retry appends an entry of its own.
    """
    number, total = context.plan.stages.index(stage) + 1, len(context.plan.stages)
    step = f"[{number}/{total}]"
    context.log(f"{step} {stage.name} ...")
    entry = {"name": stage.name, "notebook": f"{NOTEBOOKS_DIR}/{stage.notebook.name}"}
    context.record["stages"].append({**entry, "status": RUNNING, "seconds": None})
    context.save()
    entry = context.record["stages"][-1]
    banner = banner_text(context.run_id, context.plan.data_dir, context.record["synthetic_sample"])
    parameters = context.record["parameters"][stage.name]
    started = time.perf_counter()
    try:
        execute_stage(stage, context.run_dir, context.plan.data_dir, parameters, banner, kernel)
        entry["status"] = SUCCEEDED
    except StageFailure:
        entry["status"] = FAILED
        raise
    finally:
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if entry["status"] != RUNNING:  # a stop is recorded by the caller (``fail_run``)
            context.save()
    context.log(f"{step} {stage.name} done in {entry['seconds']:.1f} s")


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
    kernel: StageKernel | None,
) -> None:
    """Execute one notebook into ``run_dir/notebooks`` on ``kernel`` (None: papermill
    starts one, in this process's folder); a failure becomes a StageFailure."""
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
            progress_bar=False,
            km=kernel,  # started in the notebook's folder (``kernels.StageKernels``)
        )
    except papermill.PapermillExecutionError as exc:
        raise StageFailure(
            stage=stage.name,
            notebook=str(output),
            exception=exc.ename,
            message=first_line(exc.evalue),
            cell=exc.exec_count,
            cell_source=first_code_line(exc.source),
        ) from None
    except Exception as exc:  # kernel died, could not start, notebook unreadable, disk full...
        raise StageFailure(
            stage=stage.name,
            notebook=str(output),
            exception=type(exc).__name__,
            message=error_message(exc),
        ) from None


def first_code_line(source: str) -> str:
    for line in str(source).splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""
