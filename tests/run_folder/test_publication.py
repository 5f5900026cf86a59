"""Publication: LATEST (one reader refusing anything but a small file holding a run id) and
the publication log (a hardened writer, one reader of its newest end)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from blocking import finishes
from run_factory import log_publication, publish_latest

from milk_forecast.run_folder import publication
from milk_forecast.run_folder.layout import LATEST, PUBLICATIONS_FILE, RunFolderError
from milk_forecast.run_folder.publication import read_latest, read_publications
from milk_forecast.run_folder.write import staged_publication

RUN_A = "20261127T120301Z"


def refusal(runs_dir: Path) -> str:
    with pytest.raises(RunFolderError) as caught:
        read_latest(runs_dir)
    message = str(caught.value)
    assert "\n" not in message and "LATEST" in message
    return message


def test_round_trip_and_atomic_replace(tmp_path: Path) -> None:
    assert read_latest(tmp_path) is None
    publish_latest(tmp_path, RUN_A)
    publish_latest(tmp_path, "20261127T120302Z")
    assert read_latest(tmp_path) == "20261127T120302Z"
    assert [p.name for p in tmp_path.iterdir()] == ["LATEST"]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe\x00garbage", "not UTF-8 text"),
        (b"20261127T120301Z/../../x", "not a run id"),
        (b"\x1b[31m" + b"A" * 50, "not a run id"),
        (b"x" * 65, "65 bytes, more than the 64 allowed"),
    ],
)
def test_a_broken_latest_is_refused_quoting_a_short_sanitised_excerpt(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    (tmp_path / LATEST).write_bytes(content)
    message = refusal(tmp_path)
    assert needle in message and "\x1b" not in message and "A" * 41 not in message


def test_a_fifo_or_a_directory_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / LATEST)
    (message,) = finishes(lambda: refusal(tmp_path))
    assert "is a FIFO" in message
    (tmp_path / LATEST).unlink()
    (tmp_path / LATEST).mkdir()
    assert "is a directory" in refusal(tmp_path)


@pytest.mark.parametrize("target_inside", [True, False])
def test_a_symlinked_latest_is_refused_without_reading_its_target(
    tmp_path: Path, target_inside: bool
) -> None:
    (tmp_path / "runs").mkdir()
    target = (tmp_path / "runs" if target_inside else tmp_path) / "target"
    target.write_text(RUN_A)
    (tmp_path / "runs" / LATEST).symlink_to(target)
    message = refusal(tmp_path / "runs")
    assert "symlink" in message and str(target) not in message


def entry(run_id: str, by: str = "pipeline") -> dict[str, str]:
    return {"run_id": run_id, "published_at": "2026-11-27T12:03:01Z", "by": by}


def test_append_then_read_back_skipping_a_torn_line(tmp_path: Path) -> None:
    log_publication(tmp_path, entry("20261127T120301Z"))
    with (tmp_path / PUBLICATIONS_FILE).open("a") as handle:
        handle.write('{"run_id": "20261127T1203')  # a crash mid-append
    entries, notes = read_publications(tmp_path)
    assert entries == [entry("20261127T120301Z")]
    assert len(notes) == 1 and "line 2: not a publication record" in notes[0]


def test_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert read_publications(tmp_path) == ([], [])


@pytest.mark.parametrize(
    "text", ['{"run_id": "../../etc", "published_at": "x", "by": "y"}', "[1]", '"x"', "{"]
)
def test_lines_that_are_not_publications_are_skipped(tmp_path: Path, text: str) -> None:
    (tmp_path / PUBLICATIONS_FILE).write_text(text + "\n")
    entries, notes = read_publications(tmp_path)
    assert entries == [] and len(notes) == 1


def test_a_log_over_the_limit_is_read_from_its_newest_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(publication, "MAX_LOG_BYTES", 1000)
    for second in range(30):  # about 80 bytes a line: 2.4 kB
        log_publication(tmp_path, entry(f"20261127T1203{second:02d}Z"))
    entries, notes = read_publications(tmp_path)
    assert entries[-1]["run_id"] == "20261127T120329Z"
    assert 10 <= len(entries) < 13 and "only its newest end is read" in notes[0]
    assert len(notes) == 1  # the line cut by the limit is dropped silently


@pytest.mark.parametrize("kind", ["fifo", "directory", "symlink"])
def test_a_log_that_is_not_a_regular_file_is_refused_by_the_writer_and_noted_by_the_reader(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "runs" / PUBLICATIONS_FILE
    path.parent.mkdir()
    outside = tmp_path / "outside.jsonl"
    outside.write_text("")
    {"fifo": os.mkfifo, "directory": Path.mkdir, "symlink": lambda p: p.symlink_to(outside)}[kind](
        path
    )
    ((entries, notes),) = finishes(lambda: read_publications(path.parent))
    assert entries == [] and PUBLICATIONS_FILE in notes[0]

    def publish() -> None:
        with staged_publication(path.parent, entry("20261127T120301Z")) as commit:
            commit()

    (refused,) = finishes(publish)
    assert isinstance(refused, RunFolderError) and PUBLICATIONS_FILE in str(refused)
    assert outside.read_text() == ""


def test_each_line_is_one_json_object(tmp_path: Path) -> None:
    with staged_publication(tmp_path, entry("20261127T120301Z", "publish")) as commit:
        commit()
    line = (tmp_path / PUBLICATIONS_FILE).read_text()
    assert line.endswith("\n") and json.loads(line) == entry("20261127T120301Z", "publish")


@pytest.mark.parametrize(
    "published_at",
    ["9" * 100_000, "2026-13-01T00:00:00Z", "2026-11-27 12:03:01", "yesterday", 1732712581, None],
)
def test_a_publication_time_that_is_not_a_utc_timestamp_is_skipped(
    tmp_path: Path, published_at: object
) -> None:
    line = {"run_id": "20261127T120301Z", "published_at": published_at, "by": "pipeline"}
    (tmp_path / PUBLICATIONS_FILE).write_text(json.dumps(line) + "\n")
    entries, notes = read_publications(tmp_path)
    assert entries == [] and "not a publication record" in notes[0] and len(notes[0]) < 300


def test_a_long_by_is_skipped_and_entries_come_in_time_order(tmp_path: Path) -> None:
    log_publication(tmp_path, entry("20261127T120302Z") | {"published_at": "2026-11-28T00:00:00Z"})
    log_publication(tmp_path, entry("20261127T120301Z") | {"published_at": "2026-11-27T00:00:00Z"})
    log_publication(tmp_path, entry("20261127T120303Z", by="x" * 41))
    entries, notes = read_publications(tmp_path)
    assert [e["run_id"] for e in entries] == ["20261127T120301Z", "20261127T120302Z"]
    assert len(notes) == 1
