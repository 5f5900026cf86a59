"""run.json: its reader and writer, the status of a run whose process died, the run list."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.run_folder.record import (
    FAILED,
    INCOMPLETE,
    RUNNING,
    SUCCEEDED,
    data_source,
    effective_status,
    list_runs,
    read_run_record,
)
from milk_forecast.run_folder.write import write_run_record


def test_a_record_round_trips(tmp_path: Path) -> None:
    record = {"run_id": "20261127T120301Z", "status": "running", "pid": os.getpid(), "stages": []}
    write_run_record(tmp_path, record)
    assert read_run_record(tmp_path) == record


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, r"run.json: missing"),
        ("{not json", r"run.json: not JSON \(JSONDecodeError"),
        ("[]", "expected a JSON object, found list"),
        ('{"status": "done"}', "'status' is 'done', expected one of"),
        (
            '{"status": "succeeded", "headline": [1]}',
            "'headline' is \\[1\\], expected an object or null",
        ),
        ('{"status": "succeeded", "stages": "x"}', "'stages' is 'x', expected a list"),
        ('{"status": "succeeded", "stages": [1]}', "'stages' holds an entry that is not an object"),
        ('{"status": "running", "pid": 99999999999}', "'pid' is 99999999999, not a process id"),
        ('{"status": "running", "pid": true}', "'pid' is True, expected an integer or null"),
    ],
)
def test_a_broken_record_is_refused_naming_the_file_and_the_key(
    tmp_path: Path, content: str | None, message: str
) -> None:
    if content is not None:
        (tmp_path / "run.json").write_text(content)
    with pytest.raises(RunFolderError, match=message):
        read_run_record(tmp_path)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_a_running_run_whose_process_died_is_incomplete() -> None:
    host = socket.gethostname()
    alive = {"status": "running", "pid": os.getpid(), "host": host}
    dead = {"status": "running", "pid": _dead_pid(), "host": host}
    assert effective_status(alive) == RUNNING
    assert effective_status(dead) == INCOMPLETE
    assert effective_status({**dead, "host": "another-host"}) == RUNNING  # cannot tell
    assert effective_status({**dead, "status": "failed"}) == FAILED


def test_list_runs_newest_first_reports_broken_folders(tmp_path: Path) -> None:
    for run_id, status in [("20261127T120301Z", "succeeded"), ("20261127T120302Z", "failed")]:
        (tmp_path / run_id).mkdir()
        (tmp_path / run_id / "run.json").write_text(json.dumps({"status": status}))
    (tmp_path / "20261127T120303Z").mkdir()  # killed before run.json was written
    (tmp_path / "20261127T120304Z").symlink_to(tmp_path / "20261127T120301Z")
    (tmp_path / "not-a-run").mkdir()
    listed = list_runs(tmp_path)
    assert [(s.run_id, s.status) for s in listed] == [
        ("20261127T120304Z", INCOMPLETE),
        ("20261127T120303Z", INCOMPLETE),
        ("20261127T120302Z", FAILED),
        ("20261127T120301Z", SUCCEEDED),
    ]
    assert "symlink" in (listed[0].error or "") and "missing" in (listed[1].error or "")
    assert list_runs(tmp_path / "nowhere") == []


def test_data_source() -> None:
    assert data_source(True) == "synthetic_sample"
    assert data_source(False) == "real"
    assert data_source("yes") == "unknown"
