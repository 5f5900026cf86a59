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

from milk_forecast import contracts
from milk_forecast.runner import run_folder

NOON = datetime(2026, 11, 27, 12, 3, 1, tzinfo=UTC)


def test_run_ids_sort_by_start_time_and_stay_unique_within_a_second(tmp_path: Path) -> None:
    ids = [run_folder.create_run_dir(tmp_path, NOON)[0] for _ in range(3)]
    later, _ = run_folder.create_run_dir(tmp_path, NOON.replace(second=2))
    assert ids[0] == "20261127T120301Z"
    assert len(set(ids)) == 3
    assert sorted([later, *ids]) == [*ids, later]
    assert all(contracts.is_valid_run_id(run_id) for run_id in [*ids, later])


@pytest.mark.parametrize(
    "run_id", ["../etc", "20261127T120301Z/../x", "", "latest", "20261127T120301", "%2e%2e"]
)
def test_malformed_run_ids_never_name_a_folder(tmp_path: Path, run_id: str) -> None:
    with pytest.raises(contracts.RunFolderError, match="malformed"):
        run_folder.run_dir_for(tmp_path, run_id)


def test_latest_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    assert run_folder.read_latest(tmp_path) is None
    run_folder.publish_latest(tmp_path, "20261127T120301Z")
    run_folder.publish_latest(tmp_path, "20261127T120302Z")
    assert run_folder.read_latest(tmp_path) == "20261127T120302Z"
    assert [p.name for p in tmp_path.iterdir()] == ["LATEST"]  # no temporary file left


def test_latest_with_garbage_is_an_error_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "LATEST").write_text("../../etc/passwd\n")
    with pytest.raises(contracts.RunFolderError, match="LATEST"):
        run_folder.read_latest(tmp_path)


def test_read_run_record_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(contracts.RunFolderError, match=r"run.json: was not written"):
        contracts.read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("{not json")
    with pytest.raises(contracts.RunFolderError, match=r"run.json: unreadable \(JSONDecodeError"):
        contracts.read_run_record(tmp_path)
    (tmp_path / "run.json").write_text("[]")
    with pytest.raises(contracts.RunFolderError, match="expected a JSON object, found list"):
        contracts.read_run_record(tmp_path)
    (tmp_path / "run.json").write_text('{"status": "done"}')
    with pytest.raises(contracts.RunFolderError, match="'status' is 'done', expected one of"):
        contracts.read_run_record(tmp_path)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_running_run_whose_process_died_is_incomplete() -> None:
    host = socket.gethostname()
    alive = {"status": "running", "pid": os.getpid(), "host": host}
    dead = {"status": "running", "pid": _dead_pid(), "host": host}
    assert run_folder.effective_status(alive) == contracts.RUNNING
    assert run_folder.effective_status(dead) == contracts.INCOMPLETE
    assert run_folder.effective_status({**dead, "status": "failed"}) == contracts.FAILED


def test_list_runs_newest_first_reports_broken_folders(tmp_path: Path) -> None:
    for run_id, status in [("20261127T120301Z", "succeeded"), ("20261127T120302Z", "failed")]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "run.json").write_text(json.dumps({"status": status}))
    (tmp_path / "20261127T120303Z").mkdir()  # killed before run.json was written
    (tmp_path / "not-a-run").mkdir()
    listed = run_folder.list_runs(tmp_path)
    assert [(s.run_id, s.status) for s in listed] == [
        ("20261127T120303Z", contracts.INCOMPLETE),
        ("20261127T120302Z", contracts.FAILED),
        ("20261127T120301Z", contracts.SUCCEEDED),
    ]
    assert "was not written" in (listed[0].error or "")


def write_predictions(path: Path, kinds: list[str]) -> Path:
    pd.DataFrame(
        {
            "month": pd.date_range("2020-01-01", periods=len(kinds), freq="MS"),
            contracts.ACTUAL: [1.0] * len(kinds),
            contracts.PREDICTED: [1.0] * len(kinds),
            "kind": kinds,
            "model": ["m"] * len(kinds),
        }
    ).to_parquet(path)
    return path


def test_read_predictions_accepts_the_three_kinds(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", list(contracts.PREDICTION_KINDS))
    assert list(contracts.read_predictions(path)["kind"]) == list(contracts.PREDICTION_KINDS)


def test_read_predictions_names_an_unknown_kind(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", ["in_sample", "guess"])
    with pytest.raises(
        contracts.StageOutputError, match=r"predictions.parquet: column 'kind' holds 'guess'"
    ):
        contracts.read_predictions(path)
