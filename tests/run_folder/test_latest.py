"""LATEST: one reader that refuses anything but a small file holding a run id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from blocking import finishes

from milk_forecast.run_folder.latest import latest_stamp, read_latest
from milk_forecast.run_folder.layout import LATEST, RunFolderError
from milk_forecast.run_folder.write import publish_latest

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


def test_the_stamp_changes_when_latest_is_replaced(tmp_path: Path) -> None:
    assert latest_stamp(tmp_path) is None
    publish_latest(tmp_path, RUN_A)
    first = latest_stamp(tmp_path)
    publish_latest(tmp_path, RUN_A)
    assert latest_stamp(tmp_path) not in (None, first)
