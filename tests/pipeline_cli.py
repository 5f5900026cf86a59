"""Running ``run_pipeline.py`` as a user does, and looking at what it left: end-to-end test helpers.

``cli`` runs it as a process; ``main`` calls its ``main`` in this process (the same code
without a second Python start-up), for tests that neither signal nor kill it.
``Handshake`` lets a test act while a stage is running, without polling or sleeping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from io import StringIO
from pathlib import Path

import nbformat

from milk_forecast.run_folder.layout import is_valid_run_id
from milk_forecast.run_folder.publication import read_latest

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
Result = subprocess.CompletedProcess


def command(*args: str | Path) -> list[str]:
    return [sys.executable, str(PROJECT_ROOT / "run_pipeline.py"), *map(str, args)]


def cli(*args: str | Path, timeout: float = 300) -> Result[str]:
    """``python run_pipeline.py ARGS...``, its output captured."""
    return subprocess.run(
        command(*args), capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT
    )


def cli_with(prelude: str, *args: str | Path, timeout: float = 120) -> Result[str]:
    """``python run_pipeline.py ARGS...`` with the Python code ``prelude`` run first (fault
    injection: it may replace a function of ``os``), its output captured."""
    code = f"{prelude}\nimport sys, run_pipeline\nsys.exit(run_pipeline.main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
    )


def signal_while_writing(name: str, signum: int) -> tuple[Callable, Callable]:
    """Fault injection: ``os.replace`` and ``os.fsync`` replaced so that ``signum`` arrives
    in this process while the file ``name`` is renamed into place (LATEST) or flushed to
    disk (the publication log). ``cli_with(injected_signal(...), ...)`` does it in the CLI."""
    replace, fsync = os.replace, os.fsync

    def replacing(source: str | Path, destination: str | Path) -> None:
        if Path(destination).name == name:
            os.kill(os.getpid(), signum)
        replace(source, destination)

    def flushing(fd: int) -> None:
        if Path(os.readlink(f"/proc/self/fd/{fd}")).name == name:
            os.kill(os.getpid(), signum)
        fsync(fd)

    return replacing, flushing


def injected_signal(name: str, signum: int) -> str:
    """The prelude of ``cli_with`` that applies ``signal_while_writing(name, signum)``."""
    return (
        "import os, sys\nsys.path.insert(0, 'tests')\n"
        "from pipeline_cli import signal_while_writing\n"
        f"os.replace, os.fsync = signal_while_writing({name!r}, {int(signum)})"
    )


def main(*args: str | Path) -> Result[str]:
    """``run_pipeline.main(ARGS)`` in this process, its exit code and output captured."""
    import run_pipeline

    argv = [str(arg) for arg in args]
    out, err = StringIO(), StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = run_pipeline.main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else 2
    return Result(argv, code, out.getvalue(), err.getvalue())


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


def copy_runs(runs_dir: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of ``runs_dir`` in ``tmp_path``, and the id of the run it serves."""
    copy = tmp_path / "runs"
    shutil.copytree(runs_dir, copy)
    return copy, read_latest(copy)


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


# Code for a notebook cell: the runner (the kernel's parent) gets a signal while the cell runs.
SIGNAL_THE_RUNNER = "import os, signal, time\nos.kill(os.getppid(), signal.{})\ntime.sleep(60)"


class Handshake:
    """A notebook cell that tells the test it is running, then waits to be stopped.

    ``code`` goes in a notebook (``notebooks_with``); ``wait()`` returns once a run has
    reached it, through a FIFO the cell writes to, so the test needs no polling or sleep.
    """

    def __init__(self, tmp_path: Path, timeout: float = 120) -> None:
        self.fifo = tmp_path / "stage-reached"
        os.mkfifo(self.fifo)
        self.timeout = timeout
        self.code = (
            f"with open({str(self.fifo)!r}, 'w') as fifo:\n"
            "    fifo.write('reached')\n"
            "import time\n"
            "time.sleep(120)"
        )

    def wait(self) -> None:
        """Block until the cell has run its first line; fail after ``timeout`` seconds."""
        said: list[str] = []
        reader = threading.Thread(target=lambda: said.append(self.fifo.read_text()), daemon=True)
        reader.start()
        reader.join(self.timeout)
        if said != ["reached"]:
            with open(self.fifo, "w"):  # unblock the reader thread
                pass
            raise AssertionError(f"no run reached the stage within {self.timeout:g} s")
