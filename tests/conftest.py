"""Fixtures shared across the test modules: the project, the sample, the real data, a sample run.

The real data is looked for in one place, ``../shared/data`` beside the project. Tests
that need it take the ``real_data_dir`` fixture: skipped when it is absent, except when
``MILK_REQUIRE_REAL_DATA=1`` (CI), where its absence fails them.

``sample_run`` is one pipeline run of the synthetic sample for the whole session, made
by ``run_pipeline.py`` as a user runs it: every test that only reads a run (its folder,
its files, the API or the page serving it) shares it. It must stay as it is: a test that
adds runs or changes files works on a copy (``pipeline_cli.copy_runs(sample_run.runs_dir,
tmp_path)``). Run the pipeline yourself only to test a run of another kind.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
from pipeline_cli import cli

from milk_forecast.run_folder.publication import read_latest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DIR = PROJECT_ROOT / "data" / "sample"
REAL_DATA_DIR = PROJECT_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture(scope="session")
def sample_data_dir() -> Path:
    return SAMPLE_DIR


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    if not (REAL_DATA_DIR / "precio_leche.csv").is_file():
        message = f"real data not found in {REAL_DATA_DIR}"
        if os.environ.get("MILK_REQUIRE_REAL_DATA") == "1":
            pytest.fail(message + " (MILK_REQUIRE_REAL_DATA=1)")
        pytest.skip(message)
    return REAL_DATA_DIR


@dataclass(frozen=True)
class SampleRun:
    """A succeeded, published run of the sample: its runs folder, its folder, what it said."""

    runs_dir: Path
    run_dir: Path
    stdout: str
    stderr: str


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory: pytest.TempPathFactory) -> SampleRun:
    """``python run_pipeline.py --data-dir data/sample`` into a runs folder of its own: read
    it, never change it (copy it first). Made once per session, even by several
    pytest-xdist workers: the first makes it, the others wait for it (a file lock)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "sample-run"
    runs_dir, said = folder / "runs", folder / "output.json"
    with (shared / "sample-run.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not said.is_file():
            result = cli("--data-dir", SAMPLE_DIR, "--runs-dir", runs_dir)
            assert result.returncode == 0, result.stdout + result.stderr
            said.write_text(json.dumps([result.stdout, result.stderr]))
    stdout, stderr = json.loads(said.read_text())
    return SampleRun(runs_dir, runs_dir / read_latest(runs_dir), stdout, stderr)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (pipeline runs, servers, browsers) first: with several
    pytest-xdist workers taking whole files, the longest files start first and the quick
    ones fill in around them, so the workers finish together."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
