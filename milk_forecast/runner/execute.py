"""One stage: its notebook executed by papermill into the run folder.

A run folder holds no absolute path (it can be moved): the kernel runs in the executed
notebook's folder, the paths injected are relative to it, and ``RunFolderEngine`` records
relative ones in the metadata.
"""

from __future__ import annotations

import os
import time
from typing import Any

import nbformat
import papermill
from papermill.engines import NBClientEngine, papermill_engines

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
    step = f"[{context.plan.stages.index(stage) + 1}/{len(context.plan.stages)}]"
    context.log(f"{step} {stage.name} ...")
    notebook = f"{NOTEBOOKS_DIR}/{stage.notebook.name}"
    entry = {"name": stage.name, "notebook": notebook, "status": RUNNING, "seconds": None}
    context.record["stages"].append(entry)
    context.save()
    started = time.perf_counter()
    try:
        execute_stage(context, stage, kernel)
        entry["status"] = SUCCEEDED
    except StageFailure:
        entry["status"] = FAILED
        raise
    finally:
        entry["seconds"] = round(time.perf_counter() - started, 2)
        if entry["status"] != RUNNING:  # a stop is recorded by the caller (``fail_run``)
            context.save()
    context.log(f"{step} {stage.name} done in {entry['seconds']:.1f} s")


class RunFolderEngine(NBClientEngine):
    """papermill's nbclient engine, recording in the notebook's metadata the source
    notebook's name and the executed one's path from the run folder (papermill would
    record absolute paths, and the whole source when given a notebook, as here)."""

    @classmethod
    def execute_managed_notebook(cls, nb_man: Any, kernel_name: str, **kwargs: Any) -> Any:
        name = os.path.basename(nb_man.output_path)
        nb_man.nb.metadata.papermill.update(input_path=name, output_path=f"{NOTEBOOKS_DIR}/{name}")
        return super().execute_managed_notebook(nb_man, kernel_name, **kwargs)


papermill_engines.register("run-folder", RunFolderEngine)


def banner_text(run_id: str, data_dir: str, synthetic: bool) -> str:
    """The first cell of every executed notebook: which run, which data (``data_dir``: from
    the notebook's folder)."""
    text = f"> Executed as run `{run_id}` on **{data_label(synthetic)}** from `{data_dir}`."
    if synthetic:
        text += " Pass `--data-dir` (or put the real CSVs in `data/`) to train the real model."
    return text


def execute_stage(context: RunContext, stage: Stage, kernel: StageKernel | None) -> None:
    """The notebook, its parameters injected and a banner first, into ``run_dir/notebooks``
    on ``kernel``, started in that folder (``kernels.StageKernels``)."""
    output = context.run_dir / NOTEBOOKS_DIR / stage.notebook.name
    data_dir = os.path.relpath(context.plan.data_dir, output.parent)
    run_dir = f"../../{context.run_id}"  # not "..": run_dir.parent is the runs folder
    parameters = {"run_dir": run_dir, **context.record["parameters"][stage.name]}
    if "data_dir" in stage.parameters:
        parameters["data_dir"] = data_dir
    banner = banner_text(context.run_id, data_dir, context.record["synthetic_sample"])
    try:
        notebook = nbformat.read(stage.notebook, as_version=4)
        cell = nbformat.v4.new_markdown_cell(banner, metadata={"tags": ["run-banner"]})
        notebook.cells.insert(0, cell)
        papermill.execute_notebook(
            notebook,
            output,
            parameters=parameters,
            engine_name="run-folder",
            progress_bar=False,
            km=kernel,
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
            stage.name, str(output), type(exc).__name__, error_message(exc)
        ) from None


def first_code_line(source: str) -> str:
    lines = (line.strip() for line in str(source).splitlines())
    return next((line for line in lines if line and not line.startswith("#")), "")
