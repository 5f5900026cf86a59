"""Writing a run folder: atomic files, new run folders."""

from __future__ import annotations

import errno
import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import is_valid_run_id
from milk_forecast.run_folder.write import (
    create_run_dir,
    ordered_bounds,
    output_digests,
    staged_text,
    write_json_atomic,
    write_text_atomic,
)

NOON = datetime(2026, 11, 27, 12, 3, 1, tzinfo=UTC)


def test_run_ids_sort_by_start_time_and_stay_unique_within_a_second(tmp_path: Path) -> None:
    ids = [create_run_dir(tmp_path, NOON)[0] for _ in range(3)]
    later, _ = create_run_dir(tmp_path, NOON.replace(second=2))
    assert ids == ["20261127T120301Z", "20261127T120301Z-01", "20261127T120301Z-02"]
    assert sorted([later, *ids]) == [*ids, later]
    assert all(is_valid_run_id(run_id) and (tmp_path / run_id).is_dir() for run_id in ids)


def test_an_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    write_json_atomic(tmp_path / "run.json", {"a": 1})
    write_text_atomic(tmp_path / "run.json", '{"a": 2}')
    assert json.loads((tmp_path / "run.json").read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_a_staged_write_left_uncommitted_keeps_the_old_file(tmp_path: Path) -> None:
    (tmp_path / "LATEST").write_text("old\n")
    with staged_text(tmp_path / "LATEST", "new\n"):
        assert (tmp_path / "LATEST").read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["LATEST"]


def test_a_failed_write_names_the_target_not_the_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*args: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as caught:
        write_text_atomic(tmp_path / "run.json", "{}")
    assert caught.value.filename == str(tmp_path / "run.json")
    assert list(tmp_path.iterdir()) == []


def test_ordered_bounds_go_from_the_widest_lower_to_the_widest_upper() -> None:
    assert ordered_bounds([0.95, 0.5]) == [
        "lower_95_clp_per_l",
        "lower_50_clp_per_l",
        "predicted_clp_per_l",
        "upper_50_clp_per_l",
        "upper_95_clp_per_l",
    ]


def test_output_digests_are_the_sha256_of_the_outputs_present(tmp_path: Path) -> None:
    (tmp_path / "metrics.json").write_text("{}")
    (tmp_path / "figures").mkdir()
    (tmp_path / "figures" / "forecast_fan.svg").write_text("<svg/>")
    assert output_digests(tmp_path) == {
        "metrics.json": hashlib.sha256(b"{}").hexdigest(),
        "figures/forecast_fan.svg": hashlib.sha256(b"<svg/>").hexdigest(),
    }
