"""Reading files of runs/ without trusting them, and writing them atomically."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blocking import finishes
from run_factory import publish_latest

from milk_forecast.run_folder.files import (
    excerpt,
    read_bounded,
    read_json_object,
    sanitize,
    stamp,
    too_deep,
)
from milk_forecast.run_folder.layout import RunFolderError


def refusal(call: object, *args: object) -> str:
    """The message of the RunFolderError ``call(*args)`` raises: one short line."""
    with pytest.raises(RunFolderError) as caught:
        call(*args)  # type: ignore[operator]
    message = str(caught.value)
    assert "\n" not in message and len(message) <= 400
    return message


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda path: os.mkfifo(path), "is a FIFO, not a regular file"),
        (lambda path: path.mkdir(), "is a directory, not a regular file"),
        (lambda path: None, "missing"),
    ],
)
def test_what_is_not_a_regular_file_is_refused_without_blocking(
    tmp_path: Path, make: object, needle: str
) -> None:
    path = tmp_path / "doc.json"
    make(path)  # type: ignore[operator]
    (message,) = finishes(lambda: refusal(read_bounded, path, 100))
    assert needle in message and str(path) in message


def test_a_file_over_its_bound_is_refused_before_it_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(b"x" * (30 * 1024 * 1024))
    monkeypatch.setattr(os, "read", lambda *args: pytest.fail("a 30 MB file was read"))
    assert "31457280 bytes, more than the 100 allowed" in refusal(read_bounded, path, 100)


def test_reads_past_short_reads_up_to_the_bound(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * (3 << 20))
    assert len(read_bounded(path, 4 << 20)) == 3 << 20


def test_a_symlink_leaving_the_root_is_refused_unread(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    (tmp_path / "outside.json").write_text('{"secret": 1}')
    (tmp_path / "runs" / "doc.json").symlink_to(tmp_path / "outside.json")
    message = refusal(read_bounded, tmp_path / "runs" / "doc.json", 100, tmp_path / "runs")
    assert "leads outside" in message and "secret" not in message


def test_symlinks_inside_the_root_and_a_symlinked_root_are_followed(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "a.json").write_text('{"a": 1}')
    (tmp_path / "real" / "b.json").symlink_to(tmp_path / "real" / "a.json")
    (tmp_path / "link").symlink_to(tmp_path / "real")
    assert read_json_object(tmp_path / "link" / "b.json", 100, tmp_path / "link") == {"a": 1}


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"\xff\xfe{}", "UnicodeDecodeError"),
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b'{"a": ' + b"9" * 5000 + b"}", "ValueError"),
        (b"{not json", "JSONDecodeError"),
        (b"[1, 2]", "expected a JSON object, found list"),
        (b'{"rmse": NaN}', "NaN is not a JSON number"),
        (b'{"rmse": [-Infinity]}', "-Infinity is not a JSON number"),
        (b'{"a": ' + b"[" * 40 + b"]" * 40 + b"}", "nested deeper than 32 levels"),
    ],
)
def test_what_is_not_a_json_object_is_a_short_refusal(
    tmp_path: Path, content: bytes, needle: str
) -> None:
    path = tmp_path / "doc.json"
    path.write_bytes(content)
    message = refusal(read_json_object, path, 1_000_000)
    assert needle in message and str(path) in message


def test_too_deep_counts_nesting_without_recursion() -> None:
    assert not too_deep({"a": [{"b": 1}]}, limit=3)
    assert too_deep({"a": [{"b": [1]}]}, limit=3)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert too_deep(deep)


def test_messages_quote_untrusted_text_short_and_printable() -> None:
    assert sanitize("a\nb\x00c", 10) == "a?b?c"
    assert sanitize("x" * 50, 10) == "xxxxxxx..."
    quoted = excerpt("\x1b[31m" + "A" * 100)
    assert len(quoted) == 40 and quoted.endswith("...") and "\x1b" not in quoted


def test_the_stamp_changes_when_a_file_is_replaced(tmp_path: Path) -> None:
    assert stamp(tmp_path / "LATEST") is None
    publish_latest(tmp_path, "20261127T120301Z")
    first = stamp(tmp_path / "LATEST")
    publish_latest(tmp_path, "20261127T120301Z")
    assert stamp(tmp_path / "LATEST") not in (None, first)
