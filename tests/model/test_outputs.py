"""predictions.parquet: read back and checked by 04_train."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from milk_forecast.data.checks import StageOutputError
from milk_forecast.model.outputs import read_predictions
from milk_forecast.run_folder.predictions import ACTUAL, PREDICTED, PREDICTION_KINDS


def write_predictions(path: Path, kinds: list[str]) -> Path:
    pd.DataFrame(
        {
            "month": pd.date_range("2020-01-01", periods=len(kinds), freq="MS"),
            ACTUAL: [1.0] * len(kinds),
            PREDICTED: [1.0] * len(kinds),
            "kind": kinds,
            "model": ["m"] * len(kinds),
        }
    ).to_parquet(path)
    return path


def test_read_predictions_accepts_the_three_kinds(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", list(PREDICTION_KINDS))
    assert list(read_predictions(path)["kind"]) == list(PREDICTION_KINDS)


def test_read_predictions_names_an_unknown_kind(tmp_path: Path) -> None:
    path = write_predictions(tmp_path / "predictions.parquet", ["in_sample", "guess"])
    with pytest.raises(StageOutputError, match=r"predictions.parquet: column 'kind' holds 'guess'"):
        read_predictions(path)
