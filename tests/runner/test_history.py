from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
import run_factory as factory
from fake_runs import dead_pid
from run_factory import publish_latest

from milk_forecast.run_folder.layout import METRICS_FILE, PREDICTIONS_JSON, RunFolderError
from milk_forecast.run_folder.record import read_run_record
from milk_forecast.run_folder.write import output_digests, write_run_record
from milk_forecast.runner.history import format_history, inputs_label, prune_runs

SAMPLE_INPUTS = {"precio_leche.csv": {"sha256": "a" * 64, "bytes": 10}}
REAL_INPUTS = {"precio_leche.csv": {"sha256": "b" * 64, "bytes": 10}}


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
    assert "broken" in missing and "run.json: missing" in missing
    unreadable = line_of(table, "20261129T000000Z-01")
    assert "broken" in unreadable and "not JSON" in unreadable


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
    sample = inputs_label({"synthetic_sample": True, "inputs": SAMPLE_INPUTS})
    real = inputs_label({"synthetic_sample": False, "inputs": REAL_INPUTS})
    assert re.fullmatch(r"synthetic_sample [0-9a-f]{8}", sample)
    assert re.fullmatch(r"real [0-9a-f]{8}", real)
    assert sample[-8:] != real[-8:]
    assert (
        inputs_label({"synthetic_sample": False, "inputs": SAMPLE_INPUTS}) == "real " + sample[-8:]
    )
    assert inputs_label({}) == "unknown"


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


# --- a corrupt history: every broken entry is a row with a reason, never a crash ---

CORRUPT_RECORDS = {
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "deep nesting in a key": '{"status": "succeeded", "headline": '
    + "[" * 100_000
    + "]" * 100_000
    + "}",
    "huge pid": json.dumps({"status": "running", "pid": 10**30, "host": socket.gethostname()}),
    "a list at the top": json.dumps([{"status": "succeeded"}]),
    "a list as headline": json.dumps({"status": "succeeded", "headline": [1, 2]}),
    "a text as stages": json.dumps({"status": "failed", "stages": "01_extract"}),
    "a number in stages": json.dumps({"status": "failed", "stages": [3]}),
    "a list as error": json.dumps({"status": "failed", "error": ["boom"]}),
    "a non-text status": json.dumps({"status": ["succeeded"]}),
    "an object as status": json.dumps({"status": {"a": 1}}),
    "a boolean pid": json.dumps({"status": "running", "pid": True}),
    "a text as inputs": json.dumps({"status": "succeeded", "inputs": "x"}),
    "not UTF-8": b"\xff\xfe{}",
}
REASONS = {
    "deep nesting": "not JSON",
    "deep nesting in a key": "not JSON",
    "huge pid": "'pid'",
    "a list at the top": "expected a JSON object",
    "a list as headline": "'headline'",
    "a text as stages": "'stages'",
    "a number in stages": "'stages'",
    "a list as error": "'error'",
    "a non-text status": "'status'",
    "an object as status": "'status'",
    "a boolean pid": "'pid'",
    "a text as inputs": "'inputs'",
    "not UTF-8": "not JSON",
}


@pytest.mark.parametrize("case", list(CORRUPT_RECORDS))
def test_a_corrupt_run_json_is_a_broken_row_with_its_reason(tmp_path: Path, case: str) -> None:
    make_run(tmp_path, "20261101T000000Z", **succeeded(1.0))
    publish_latest(tmp_path, "20261101T000000Z")
    broken = tmp_path / "20261031T000000Z"  # older than the served run
    broken.mkdir()
    content = CORRUPT_RECORDS[case]
    data = content if isinstance(content, bytes) else content.encode()
    (broken / "run.json").write_bytes(data)
    row = line_of(format_history(tmp_path), broken.name)
    assert "broken" in row and REASONS[case] in row
    assert len(row) < 400  # a reason, not the file
    assert prune_runs(tmp_path, keep=1) == [broken.name]  # the served run is kept


def test_entries_named_like_runs_that_are_not_folders_are_broken_and_left_alone(
    tmp_path: Path,
) -> None:
    runs = tmp_path / "runs"
    target = make_run(tmp_path / "elsewhere", "20261101T000000Z", **succeeded(1.0))
    make_run(runs, "20261102T000000Z", **succeeded(2.0))
    (runs / "20261103T000000Z").symlink_to(target, target_is_directory=True)
    (runs / "20261104T000000Z").write_text("a file")
    make_run(runs, "20261105T000000Z", **succeeded(3.0))
    table = format_history(runs)
    assert "symlink" in line_of(table, "20261103T000000Z")
    assert "not a folder" in line_of(table, "20261104T000000Z")
    assert prune_runs(runs, keep=1) == ["20261102T000000Z"]
    assert (runs / "20261103T000000Z").is_symlink() and (runs / "20261104T000000Z").is_file()
    assert (target / "run.json").is_file()  # a link is never followed, let alone emptied


@pytest.mark.parametrize("kind", ["folder", "fifo", "huge", "not utf-8", "dangling link"])
def test_a_broken_latest_is_named_by_list_and_stops_prune(tmp_path: Path, kind: str) -> None:
    make_run(tmp_path, "20261101T000000Z", **succeeded(1.0))
    make_run(tmp_path, "20261102T000000Z", **succeeded(1.0))
    latest = tmp_path / "LATEST"
    if kind == "folder":
        latest.mkdir()
    elif kind == "fifo":
        os.mkfifo(latest)  # opening it for reading would block
    elif kind == "huge":
        latest.write_text("20261101T000000Z\n" * 100_000)
    elif kind == "not utf-8":
        latest.write_bytes(b"\xff" * 20)
    else:
        latest.symlink_to(tmp_path / "nowhere")
    footer = format_history(tmp_path).splitlines()[-1]
    assert footer.startswith("LATEST is broken") and str(latest) in footer
    assert len(footer) < 300
    with pytest.raises(RunFolderError, match="not pruning"):
        prune_runs(tmp_path, keep=1)
    assert (tmp_path / "20261101T000000Z").is_dir()


def test_a_run_whose_outputs_changed_since_it_succeeded_is_flagged(tmp_path: Path) -> None:
    served = factory.make_run(tmp_path, "20261101T000000Z")
    kept = factory.make_run(tmp_path, "20261102T000000Z", publish=False)
    for run_dir in (served, kept):
        record = read_run_record(run_dir)
        write_run_record(run_dir, record | {"outputs": output_digests(run_dir)})
    assert "CHANGED" not in format_history(tmp_path)
    with (served / PREDICTIONS_JSON).open("a") as predictions:
        predictions.write(" ")
    (kept / METRICS_FILE).unlink()
    table = format_history(tmp_path)
    assert line_of(table, served.name).endswith("CHANGED since it succeeded: predictions.json")
    assert line_of(table, kept.name).endswith("CHANGED since it succeeded: metrics.json")
