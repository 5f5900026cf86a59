"""Running ``run_pipeline.py`` as a user does, and looking at what it left: end-to-end test helpers."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat

from milk_forecast.run_folder.layout import RunFolderError, is_valid_run_id
from milk_forecast.run_folder.record import read_run_record

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STAGES = ["01_extract", "02_clean", "03_preprocess", "04_train"]
STAGE_PRODUCTS = [
    "raw_precio_leche.parquet",
    "raw_precipitaciones.parquet",
    "raw_banco_central.parquet",
    "inputs.json",
    "clean_monthly.parquet",
    "dropped_rows.parquet",
    "rescaled_cells.parquet",
    "features_monthly.parquet",
    "metrics.json",
    "predictions.parquet",
    "run.json",
    "report.html",
    "kernels.log",
]


def command(*args: str | Path) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), *map(str, args)]


def cli(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """``python run_pipeline.py ARGS...``, its output captured."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )


def start_cli(*args: str | Path) -> subprocess.Popen[str]:
    """``python run_pipeline.py ARGS...`` started, its output piped."""
    return subprocess.Popen(
        command(*args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
    )


def run_folders(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir() and is_valid_run_id(p.name))


def notebooks_with(tmp_path: Path, stage: str, code: str) -> Path:
    """A copy of notebooks/ where ``code`` runs right after the parameters of ``stage``."""
    copy = tmp_path / "notebooks"
    shutil.copytree(PROJECT_ROOT / "notebooks", copy)
    path = copy / f"{stage}.ipynb"
    notebook = nbformat.read(path, as_version=4)
    index = next(
        i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", [])
    )
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(code))
    nbformat.write(notebook, path)
    return copy


def wait_for_stage(runs_dir: Path, stage: str, timeout: float = 120) -> Path:
    """The run folder once its run.json says ``stage`` is running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in run_folders(runs_dir) if runs_dir.exists() else []:
            try:
                record = read_run_record(folder)
            except RunFolderError:
                continue
            if any(s["name"] == stage and s["status"] == "running" for s in record["stages"]):
                return folder
        time.sleep(0.05)
    raise AssertionError(f"stage {stage} never started under {runs_dir}")
