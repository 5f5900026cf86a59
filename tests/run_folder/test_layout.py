"""Run ids and where a run lives."""

from __future__ import annotations

from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import (
    RunFolderError,
    is_valid_run_id,
    raw_parquet_name,
    run_dir_for,
)


@pytest.mark.parametrize(
    "run_id", ["../etc", "20261127T120301Z/../x", "", "latest", "20261127T120301", "%2e%2e", 3]
)
def test_malformed_run_ids_never_name_a_folder(tmp_path: Path, run_id: object) -> None:
    assert not is_valid_run_id(run_id)
    with pytest.raises(RunFolderError, match="malformed"):
        run_dir_for(tmp_path, run_id)  # type: ignore[arg-type]


def test_raw_tables_are_named_after_their_csv() -> None:
    assert raw_parquet_name("precio_leche.csv") == "raw_precio_leche.parquet"
