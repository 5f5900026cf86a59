from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from milk_forecast.runner.history import data_label, format_history, prune_runs
from milk_forecast.runner.run_folder import publish_latest, write_run_record

SAMPLE_INPUTS = {"precio_leche.csv": {"sha256": "a" * 64, "bytes": 10}}
REAL_INPUTS = {"precio_leche.csv": {"sha256": "b" * 64, "bytes": 10}}


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def make_run(runs_dir: Path, run_id: str, **record: Any) -> Path:
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    write_run_record(run_dir, {"run_id": run_id, **record})
    return run_dir


def succeeded(rmse: float, inputs: dict[str, Any] = SAMPLE_INPUTS) -> dict[str, Any]:
    return {
        "status": "succeeded",
        "started_at": "2026-11-20T00:00:00Z",
        "finished_at": "2026-11-20T00:02:05Z",
        "synthetic_sample": inputs is SAMPLE_INPUTS,
        "inputs": inputs,
        "headline": {"model": "ridge", "evaluation": "walk_forward", "rmse_clp_per_l": rmse},
    }


def line_of(table: str, run_id: str) -> str:
    (line,) = [line for line in table.splitlines() if run_id in line]
    return line


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    runs = tmp_path / "runs"
    make_run(runs, "20261101T000000Z", **succeeded(11.0))
    make_run(runs, "20261108T000000Z", **succeeded(12.345, REAL_INPUTS))
    make_run(
        runs,
        "20261115T000000Z",
        status="failed",
        synthetic_sample=True,
        stages=[{"name": "01_extract", "seconds": 2.0}, {"name": "02_clean", "seconds": 3.25}],
        error={"stage": "02_clean", "cell": 4, "exception": "KeyError", "message": "'Mes'\nmore"},
    )
    make_run(runs, "20261122T000000Z", status="running", pid=dead_pid(), host=socket.gethostname())
    (runs / "20261129T000000Z").mkdir()  # broken: no run.json
    (runs / "20261129T000000Z-01").mkdir()
    (runs / "20261129T000000Z-01" / "run.json").write_text("{not json", encoding="utf-8")
    make_run(runs, "20261130T000000Z", status="running", pid=os.getpid(), host=socket.gethostname())
    publish_latest(runs, "20261108T000000Z")
    return runs


def test_history_is_newest_first_with_effective_status_and_served_mark(runs_dir: Path) -> None:
    table = format_history(runs_dir)
    ids = re.findall(r"^\*?\s*(\d{8}T\d{6}Z(?:-\d\d)?)", table, flags=re.MULTILINE)
    assert ids == sorted(set(ids), reverse=True)
    assert len(ids) == 7
    served = line_of(table, "20261108T000000Z")
    assert served.startswith("*")
    assert re.search(r"succeeded\s+2m 05s\s+real [0-9a-f]{8}\s+ridge\s+12\.35", served)
    assert not line_of(table, "20261101T000000Z").startswith("*")
    assert "incomplete" in line_of(table, "20261122T000000Z")
    assert "running" in line_of(table, "20261130T000000Z")
    failed = line_of(table, "20261115T000000Z")
    assert re.search(r"failed\s+5s\s+synthetic_sample\s", failed)
    assert failed.endswith("02_clean: KeyError: 'Mes'")


def test_history_reports_broken_folders_as_rows(runs_dir: Path) -> None:
    table = format_history(runs_dir)
    missing = line_of(table, "20261129T000000Z ")
    assert "broken" in missing and "run.json: was not written" in missing
    unreadable = line_of(table, "20261129T000000Z-01")
    assert "broken" in unreadable and "unreadable" in unreadable


def test_history_of_an_empty_or_missing_folder_is_a_friendly_line(tmp_path: Path) -> None:
    assert format_history(tmp_path / "nowhere").startswith("No runs yet in")
    (tmp_path / "runs").mkdir()
    assert "\n" not in format_history(tmp_path / "runs")


def test_history_without_latest_says_nothing_is_served(tmp_path: Path) -> None:
    make_run(tmp_path, "20261101T000000Z", status="failed")
    table = format_history(tmp_path)
    assert table.splitlines()[-1] == "no run has succeeded yet: nothing is served"
    assert not line_of(table, "20261101T000000Z").startswith("*")


def test_data_label_distinguishes_inputs() -> None:
    sample = data_label({"synthetic_sample": True, "inputs": SAMPLE_INPUTS})
    real = data_label({"synthetic_sample": False, "inputs": REAL_INPUTS})
    assert re.fullmatch(r"synthetic_sample [0-9a-f]{8}", sample)
    assert re.fullmatch(r"real [0-9a-f]{8}", real)
    assert sample[-8:] != real[-8:]
    assert data_label({"synthetic_sample": False, "inputs": SAMPLE_INPUTS}) == "real " + sample[-8:]
    assert data_label({}) == "unknown"


def test_prune_keeps_the_newest_latest_and_running(runs_dir: Path) -> None:
    removed = prune_runs(runs_dir, keep=2)
    # Kept: the 2 newest (20261130 running, 20261129-01 broken), LATEST (20261108).
    assert removed == [
        "20261129T000000Z",
        "20261122T000000Z",
        "20261115T000000Z",
        "20261101T000000Z",
    ]
    left = sorted(p.name for p in runs_dir.iterdir())
    assert left == ["20261108T000000Z", "20261129T000000Z-01", "20261130T000000Z", "LATEST"]
    assert prune_runs(runs_dir, keep=2) == []


def test_prune_never_removes_a_running_run(tmp_path: Path) -> None:
    make_run(
        tmp_path, "20261101T000000Z", status="running", pid=os.getpid(), host=socket.gethostname()
    )
    make_run(tmp_path, "20261102T000000Z", **succeeded(1.0))
    make_run(tmp_path, "20261103T000000Z", **succeeded(1.0))
    assert prune_runs(tmp_path, keep=1) == ["20261102T000000Z"]
    assert (tmp_path / "20261101T000000Z").is_dir()


@pytest.mark.parametrize("keep", [0, -3])
def test_prune_rejects_keep_below_one(tmp_path: Path, keep: int) -> None:
    with pytest.raises(ValueError, match=f"keep must be at least 1, got {keep}"):
        prune_runs(tmp_path, keep)
