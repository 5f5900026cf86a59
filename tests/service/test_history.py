from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from run_factory import make_history, make_run, write_publications

from milk_forecast.run_folder import record
from milk_forecast.run_folder.layout import METRICS_FILE, RUN_JSON
from milk_forecast.run_folder.record import FAILED, INCOMPLETE, RUNNING, read_run_record
from milk_forecast.run_folder.write import write_run_record
from milk_forecast.service.answers import ApiError
from milk_forecast.service.history import RunIndex

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"


def index_of(runs_dir: Path) -> RunIndex:
    index = RunIndex(runs_dir)
    index.scan()
    return index


def listing(index: RunIndex, served: str | None = RUN_A) -> dict:
    return json.loads(index.list_body(served))


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def rewrite(run_dir: Path, **values: object) -> None:
    write_run_record(run_dir, {**read_run_record(run_dir), **values})


def test_rows_newest_first_with_effective_status(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    error = {"stage": "04_train", "cell": 3, "exception": "ValueError", "message": "m"}
    rewrite(make_run(runs_dir, RUN_B, status=FAILED, publish=False), error=error)
    running = make_run(runs_dir, "20261129T000000Z", status=RUNNING, publish=False)
    rewrite(running, pid=dead_pid())
    (runs_dir / "20261130T000000Z").mkdir()
    (runs_dir / "not-a-run").mkdir()
    payload = listing(index_of(runs_dir))
    rows = {row["run_id"]: row for row in payload["runs"]}
    assert [row["run_id"] for row in payload["runs"]] == sorted(rows, reverse=True)
    assert rows[RUN_A]["status"] == "succeeded" and rows[RUN_A]["served"] is True
    assert rows[RUN_B]["status"] == "failed" and rows[RUN_B]["error"] == error
    assert rows["20261129T000000Z"]["status"] == INCOMPLETE
    assert "run.json: missing" in rows["20261130T000000Z"]["error"]["message"]
    assert [row["served"] for row in payload["runs"]].count(True) == 1


@pytest.mark.parametrize(
    "values",
    [{"pid": 10**30}, {"pid": -1}, {"pid": 0}, {"pid": True}, {"pid": "12"}],
)
def test_an_implausible_pid_makes_a_broken_row_never_a_signal(runs_dir: Path, values: dict) -> None:
    rewrite(make_run(runs_dir, RUN_A, status=RUNNING, publish=False), **values)
    row = listing(index_of(runs_dir))["runs"][0]
    assert row["status"] == INCOMPLETE
    assert "'pid'" in row["error"]["message"]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"headline": [1, 2]}, "headline"),
        ({"started_at": ["x"]}, "started_at"),
        ({"error": "text"}, "error"),
    ],
)
def test_a_run_json_value_of_the_wrong_type_makes_a_broken_row_naming_it(
    runs_dir: Path, values: dict, key: str
) -> None:
    rewrite(make_run(runs_dir, RUN_A), **values)
    row = listing(index_of(runs_dir))["runs"][0]
    assert (row["status"], row["headline"]) == (INCOMPLETE, None)
    assert f"'{key}'" in row["error"]["message"]


def test_long_texts_are_shortened(runs_dir: Path) -> None:
    rewrite(make_run(runs_dir, RUN_A), finished_at="t" * 10_000)
    row = listing(index_of(runs_dir))["runs"][0]
    assert len(row["finished_at"]) <= 500


def test_a_scan_rereads_only_changed_run_json(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_history(runs_dir, 20)
    index = index_of(runs_dir)
    reads: list[str] = []
    real = record.summary_of
    monkeypatch.setattr(record, "summary_of", lambda path: reads.append(path.name) or real(path))
    index.scan()
    assert reads == []
    changed = sorted(p.name for p in runs_dir.iterdir())[3]
    rewrite(runs_dir / changed, status=FAILED)
    index.scan()
    assert reads == [changed]
    assert {r["run_id"]: r["status"] for r in listing(index)["runs"]}[changed] == "failed"


def test_runs_left_running_by_a_dead_process_are_settled_once_not_reread(
    runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = dead_pid()
    for run_id in make_history(runs_dir, 30):
        rewrite(runs_dir / run_id, status="running", pid=gone, host=socket.gethostname())
    index = index_of(runs_dir)
    assert {row["status"] for row in listing(index)["runs"]} == {"incomplete"}
    reads: list[str] = []
    real = record.summary_of
    monkeypatch.setattr(record, "summary_of", lambda path: reads.append(path.name) or real(path))
    index.scan()
    assert reads == []  # 2,000 of them once cost 0.45 s of CPU at every scan


def test_the_list_body_is_encoded_once_per_scan_and_served_run(runs_dir: Path) -> None:
    make_history(runs_dir, 3)
    index = index_of(runs_dir)
    body = index.list_body(None)
    assert index.list_body(None) is body
    assert index.list_body(RUN_A) is not body
    index.scan()
    assert index.list_body(None) is not body


@pytest.mark.parametrize(
    "run_id", ["..", "../runs", "..\\x", "20261127T120301Z/..", "/etc/passwd", "", "x" * 500]
)
def test_detail_never_leaves_the_runs_folder(runs_dir: Path, run_id: str) -> None:
    (runs_dir.parent / RUN_JSON).write_text('{"status": "succeeded"}')
    with pytest.raises(ApiError) as caught:
        index_of(runs_dir).detail(run_id, None)
    assert caught.value.status == 404
    assert len(caught.value.message) < 200


def test_detail_of_a_run_without_run_json_reports_it(runs_dir: Path) -> None:
    (runs_dir / RUN_A).mkdir()
    payload = index_of(runs_dir).detail(RUN_A, None)
    assert payload["status"] == INCOMPLETE
    assert payload["run"] is None and payload["metrics"] is None
    assert "run.json" in payload["error"]


def test_detail_returns_run_json_and_metrics_and_follows_changes(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    index = index_of(runs_dir)
    payload = index.detail(RUN_A, RUN_A)
    assert payload["run"].keys() == read_run_record(run_dir).keys()
    assert payload["metrics"].keys() == json.loads((run_dir / METRICS_FILE).read_text()).keys()
    assert payload["served"] is True
    rewrite(run_dir, status=FAILED)
    assert index.detail(RUN_A, RUN_A)["run"]["status"] == "failed"


def test_publications_are_listed_newest_first_and_a_torn_line_is_skipped(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    t1, t2 = "2026-11-27T12:04:00Z", "2026-11-28T09:00:00Z"
    log = write_publications(runs_dir, [(RUN_A, t1, "pipeline"), (RUN_A, t2, "publish")])
    with log.open("a") as handle:
        handle.write('{"torn": \n')
    index = index_of(runs_dir)
    assert [entry["published_at"] for entry in listing(index)["publications"]] == [t2, t1]
    publications = index.publications
    index.scan()
    assert index.publications is publications  # the log unchanged: not read again


def test_detail_drops_metrics_nested_too_deep(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    (run_dir / METRICS_FILE).write_text('{"a": ' + "[" * 200 + "]" * 200 + "}")
    payload = index_of(runs_dir).detail(RUN_A, None)
    assert payload["metrics"] is None and payload["run"] is not None
