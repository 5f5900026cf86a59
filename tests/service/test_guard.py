from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from blocking import finishes

from milk_forecast import contracts
from milk_forecast.service import guard
from milk_forecast.service.guard import RefusedError, RunsFolder

RUN_A = "20261127T120301Z"


@pytest.fixture
def folder(tmp_path: Path) -> RunsFolder:
    (tmp_path / "runs").mkdir()
    return RunsFolder(tmp_path / "runs")


def refusal(call: object, *args: object) -> str:
    with pytest.raises(RefusedError) as caught:
        call(*args)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and len(message) <= 400
    return message


# --- LATEST ------------------------------------------------------------------------------------


def test_read_latest_reads_a_run_id_and_none_without_latest(folder: RunsFolder) -> None:
    assert folder.read_latest() is None
    (folder.path / contracts.LATEST).write_text(RUN_A + "\n")
    assert folder.read_latest() == RUN_A


def test_a_fifo_latest_is_refused_without_blocking(folder: RunsFolder) -> None:
    os.mkfifo(folder.path / contracts.LATEST)
    (message,) = finishes(lambda: refusal(folder.read_latest))
    assert "is a FIFO" in message


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
    folder: RunsFolder, content: bytes, needle: str
) -> None:
    (folder.path / contracts.LATEST).write_bytes(content)
    message = refusal(folder.read_latest)
    assert needle in message
    assert "\x1b" not in message and "A" * (guard.MAX_EXCERPT + 1) not in message


def test_a_huge_latest_is_never_read(folder: RunsFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder.path / contracts.LATEST).write_bytes(b"2" * (30 * 1024 * 1024))
    monkeypatch.setattr(os, "read", lambda *args: pytest.fail("a 30 MB LATEST was read"))
    assert "more than the 64 allowed" in refusal(folder.read_latest)


def test_a_directory_latest_is_refused(folder: RunsFolder) -> None:
    (folder.path / contracts.LATEST).mkdir()
    assert "is a directory" in refusal(folder.read_latest)


@pytest.mark.parametrize("target_inside", [True, False])
def test_a_symlinked_latest_is_refused_without_reading_its_target(
    folder: RunsFolder, tmp_path: Path, target_inside: bool
) -> None:
    target = (folder.path if target_inside else tmp_path) / "target"
    target.write_text(RUN_A)
    (folder.path / contracts.LATEST).symlink_to(target)
    message = refusal(folder.read_latest)
    assert "symlink" in message and str(target) not in message


def test_latest_stamp_changes_when_latest_is_replaced(folder: RunsFolder) -> None:
    assert folder.latest_stamp() is None
    latest = folder.path / contracts.LATEST
    latest.write_text(RUN_A)
    first = folder.latest_stamp()
    (folder.path / "next").write_text(RUN_A)
    os.replace(folder.path / "next", latest)
    assert folder.latest_stamp() not in (None, first)


# --- run files --------------------------------------------------------------------------------


def test_read_applies_the_contract_reader_to_a_regular_file(folder: RunsFolder) -> None:
    path = folder.path / "doc.json"
    path.write_text('{"a": 1}')
    assert folder.read(path, contracts.read_json_object, 100) == {"a": 1}


def test_read_refuses_a_file_over_its_bound_before_reading_it(folder: RunsFolder) -> None:
    path = folder.path / "doc.json"
    path.write_text(json.dumps({"a": "x" * 200}))
    message = refusal(folder.read, path, lambda p: pytest.fail("read"), 100)
    assert str(path) in message and "more than the 100 allowed" in message


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda path: os.mkfifo(path), "is a FIFO"),
        (lambda path: path.mkdir(), "is a directory"),
        (lambda path: None, "missing"),
    ],
)
def test_read_refuses_what_is_not_a_regular_file(
    folder: RunsFolder, make: object, needle: str
) -> None:
    path = folder.path / "doc.json"
    make(path)  # type: ignore[operator]
    assert needle in refusal(folder.read, path, contracts.read_json_object, 100)


def test_read_refuses_a_symlink_leaving_the_runs_folder(folder: RunsFolder, tmp_path: Path) -> None:
    outside = tmp_path / "outside.json"
    outside.write_text('{"secret": 1}')
    (folder.path / "doc.json").symlink_to(outside)
    message = refusal(folder.read, folder.path / "doc.json", contracts.read_json_object, 100)
    assert "leads outside" in message and "secret" not in message


def test_a_symlink_inside_the_runs_folder_is_followed(folder: RunsFolder) -> None:
    (folder.path / "real.json").write_text('{"a": 1}')
    (folder.path / "doc.json").symlink_to(folder.path / "real.json")
    assert folder.read(folder.path / "doc.json", contracts.read_json_object, 100) == {"a": 1}


def test_a_symlinked_runs_folder_is_fine(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "doc.json").write_text('{"a": 1}')
    (tmp_path / "link").symlink_to(tmp_path / "real")
    folder = RunsFolder(tmp_path / "link")
    assert folder.read(folder.path / "doc.json", contracts.read_json_object, 100) == {"a": 1}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe{}", "UnicodeDecodeError"),
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b'{"a": ' + b"9" * 5000 + b"}", "ValueError"),
        (b"[1, 2]", "expected a JSON object"),
    ],
)
def test_read_turns_a_contract_error_into_a_short_refusal(
    folder: RunsFolder, content: bytes, needle: str
) -> None:
    path = folder.path / "doc.json"
    path.write_bytes(content)
    message = refusal(folder.read, path, contracts.read_json_object, 1_000_000)
    assert needle in message and str(path) in message


def test_run_dir_refuses_malformed_ids_missing_folders_and_escapes(
    folder: RunsFolder, tmp_path: Path
) -> None:
    assert "not a run id" in refusal(folder.run_dir, "../x")
    assert "no such run folder" in refusal(folder.run_dir, RUN_A)
    (tmp_path / "elsewhere").mkdir()
    (folder.path / RUN_A).symlink_to(tmp_path / "elsewhere")
    assert "leads outside" in refusal(folder.run_dir, RUN_A)


# --- helpers ------------------------------------------------------------------------------------


def test_too_deep_counts_nesting_without_recursion() -> None:
    assert not guard.too_deep({"a": [{"b": 1}]}, limit=3)
    assert guard.too_deep({"a": [{"b": [1]}]}, limit=3)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert guard.too_deep(deep)


def test_sanitize_keeps_one_short_printable_line() -> None:
    assert guard.sanitize("a\nb\x00c", 10) == "a?b?c"
    assert guard.sanitize("x" * 50, 10) == "xxxxxxx..."
