from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from milk_forecast import runs

NOON = datetime(2026, 11, 27, 12, 3, 1, tzinfo=UTC)


def test_run_ids_sort_by_start_time_and_stay_unique_within_a_second(tmp_path: Path) -> None:
    ids = [runs.create_run_dir(tmp_path, NOON)[0] for _ in range(3)]
    later, _ = runs.create_run_dir(tmp_path, NOON.replace(second=2))
    assert ids[0] == "20261127T120301Z"
    assert len(set(ids)) == 3
    assert sorted([later, *ids]) == [*ids, later]
    assert all(runs.is_valid_run_id(run_id) for run_id in [*ids, later])


@pytest.mark.parametrize(
    "run_id", ["../etc", "20261127T120301Z/../x", "", "latest", "20261127T120301", "%2e%2e"]
)
def test_malformed_run_ids_never_name_a_folder(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(runs.RunFolderError, match="malformed"):
        runs.run_dir_for(tmp_path, run_id)


def test_latest_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    assert runs.read_latest(tmp_path) is None
    runs.publish_latest(tmp_path, "20261127T120301Z")
    runs.publish_latest(tmp_path, "20261127T120302Z")
    assert runs.read_latest(tmp_path) == "20261127T120302Z"
    assert [p.name for p in tmp_path.iterdir()] == ["LATEST"]  # no temporary file left


def test_latest_with_garbage_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "LATEST").write_text("../../etc/passwd\n")
    with pytest.raises(runs.RunFolderError, match="LATEST"):
        runs.read_latest(tmp_path)


def test_read_run_record_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(runs.RunFolderError, match=r"run.json is missing"):
        runs.read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(runs.RunFolderError, match=r"run.json is unreadable"):
        runs.read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(runs.RunFolderError, match="no 'status'"):
        runs.read_run_record(tmp_path)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_running_run_whose_process_died_is_incomplete() -> None:
    host = socket.gethostname()
    alive = {"status": "running", "pid": os.getpid(), "host": host}
    dead = {"status": "running", "pid": _dead_pid(), "host": host}
    assert runs.effective_status(alive) == runs.RUNNING
    assert runs.effective_status(dead) == runs.INCOMPLETE
    assert runs.effective_status({**dead, "status": "failed"}) == runs.FAILED


def test_list_runs_newest_first_reports_broken_folders(tmp_path: Path) -> None:
    for run_id, status in [("20261127T120301Z", "succeeded"), ("20261127T120302Z", "failed")]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "run.json").write_text(json.dumps({"status": status}))
    (tmp_path / "20261127T120303Z").mkdir()  # killed before run.json was written
    (tmp_path / "not-a-run").mkdir()
    listed = runs.list_runs(tmp_path)
    assert [(s.run_id, s.status) for s in listed] == [
        ("20261127T120303Z", runs.INCOMPLETE),
        ("20261127T120302Z", runs.FAILED),
        ("20261127T120301Z", runs.SUCCEEDED),
    ]
    assert "missing" in (listed[0].error or "")


def write_predictions(path: Path, kinds: list[str]) -> Path:
    pd.DataFrame(
        {
            "month": pd.date_range("2020-01-01", periods=len(kinds), freq="MS"),
            runs.ACTUAL: [1.0] * len(kinds),
            runs.PREDICTED: [1.0] * len(kinds),
            "kind": kinds,
            "model": ["m"] * len(kinds),
        }
    ).to_parquet(path)
    return path


def test_read_predictions_accepts_the_three_kinds(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", list(runs.PREDICTION_KINDS))
    assert list(runs.read_predictions(path)["kind"]) == list(runs.PREDICTION_KINDS)


def test_read_predictions_names_an_unknown_kind(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", ["in_sample", "guess"])
    with pytest.raises(
        runs.StageOutputError, match=r"predictions.parquet: column 'kind' holds 'guess'"
    ):
        runs.read_predictions(path)
