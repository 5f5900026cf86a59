"""Run ids and where a run lives."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import (
    RunFolderError,
    create_run_dir,
    is_valid_run_id,
    raw_parquet_name,
    run_dir_for,
)

NOON = datetime(2026, 11, 27, 12, 3, 1, tzinfo=UTC)


def test_run_ids_sort_by_start_time_and_stay_unique_within_a_second(tmp_path: Path) -> None:
    ids = [create_run_dir(tmp_path, NOON)[0] for _ in range(3)]
    later, _ = create_run_dir(tmp_path, NOON.replace(second=2))
    assert ids == ["20261127T120301Z", "20261127T120301Z-01", "20261127T120301Z-02"]
    assert sorted([later, *ids]) == [*ids, later]
    assert all(is_valid_run_id(run_id) and (tmp_path / run_id).is_dir() for run_id in ids)


@pytest.mark.parametrize(
    "run_id", ["../etc", "20261127T120301Z/../x", "", "latest", "20261127T120301", "%2e%2e", 3]
)
def test_malformed_run_ids_never_name_a_folder(tmp_path: Path, run_id: object) -> None:
    assert not is_valid_run_id(run_id)
    with pytest.raises(RunFolderError, match="malformed"):
        run_dir_for(tmp_path, run_id)  # type: ignore[arg-type]


def test_raw_tables_are_named_after_their_csv() -> None:
    assert raw_parquet_name("precio_leche.csv") == "raw_precio_leche.parquet"
