"""predictions.json: interval names, the reader (every row checked) and the writer."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.run_folder.predictions import (
    LOWER,
    interval_column,
    level_label,
    read_predictions_json,
)
from milk_forecast.run_folder.write import write_predictions_json


@pytest.mark.parametrize(
    ("level", "label"), [(0.8, "80"), (0.95, "95"), (0.5, "50"), (0.975, "97.5"), (0.9, "90")]
)
def test_interval_columns_are_built_from_the_level(level: float, label: str) -> None:
    assert level_label(level) == label
    assert interval_column(LOWER, level) == f"lower_{label}_clp_per_l"


def rows() -> list[dict]:
    return [
        {"month": "2020-03", "kind": "backtest", "model": "m", "horizon": None, "reason": None,
         "actual_clp_per_l": 300.0, "predicted_clp_per_l": 299.0,
         "lower_80_clp_per_l": 290.0, "upper_80_clp_per_l": 310.0},
        {"month": "2020-04", "kind": "forecast", "model": "m", "horizon": 1, "reason": "why",
         "actual_clp_per_l": None, "predicted_clp_per_l": 301.0,
         "lower_80_clp_per_l": 291.0, "upper_80_clp_per_l": 311.0},
        {"month": "2020-05", "kind": "forecast", "model": "m", "horizon": 2, "reason": "why",
         "actual_clp_per_l": None, "predicted_clp_per_l": 302.0,
         "lower_80_clp_per_l": None, "upper_80_clp_per_l": None},
    ]  # fmt: skip


def write(path: Path, document: dict) -> Path:
    path.write_text(json.dumps(document))
    return path


def test_the_writer_writes_what_the_reader_accepts(tmp_path: Path) -> None:
    write_predictions_json(tmp_path / "predictions.json", [0.8], rows())
    document = read_predictions_json(tmp_path / "predictions.json")
    assert document["unit"] == "CLP/L" and document["rows"] == rows()


def test_the_writer_refuses_nan(tmp_path: Path) -> None:
    broken = rows()
    broken[0]["actual_clp_per_l"] = math.nan
    with pytest.raises(ValueError, match="not JSON compliant"):
        write_predictions_json(tmp_path / "predictions.json", [0.8], broken)


@pytest.mark.parametrize(
    ("row", "change", "message"),
    [
        (1, {"month": "2020-05"}, "row 1: month 2020-05 follows .* not sorted or a gap"),
        (1, {"kind": "guess"}, "row 1: kind is 'guess'"),
        (1, {"horizon": None}, "row 1: a forecast row needs an integer horizon"),
        (1, {"horizon": 13}, "row 1: horizon 13 is outside 1..12"),
        (0, {"horizon": 1}, "row 0: horizon is 1 on a backtest row, null expected"),
        (1, {"predicted_clp_per_l": "301"}, "row 1: predicted_clp_per_l is '301'"),
        (1, {"predicted_clp_per_l": -1.0}, "row 1: predicted_clp_per_l is -1.0, not a positive"),
        (1, {"upper_80_clp_per_l": 300.0}, r"row 1: 80% interval 291.0..300.0 does not hold 301.0"),
        (1, {"lower_80_clp_per_l": None}, r"row 1: 80% interval None..311.0"),
        (2, {"horizon": 3}, r"forecast horizons are \[1, 3\], expected 1, 2, ... in order"),
    ],
)
def test_the_reader_names_the_row_and_the_problem(
    tmp_path: Path, row: int, change: dict, message: str
) -> None:
    broken = rows()
    broken[row].update(change)
    path = write(
        tmp_path / "predictions.json", {"unit": "CLP/L", "interval_levels": [0.8], "rows": broken}
    )
    with pytest.raises(RunFolderError, match=f"predictions.json: {message}"):
        read_predictions_json(path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"unit": "USD", "interval_levels": [0.8], "rows": rows()}, "unit is 'USD', not CLP/L"),
        ({"unit": "CLP/L", "interval_levels": [80], "rows": rows()}, "not levels in"),
        (
            {"unit": "CLP/L", "interval_levels": [0.8], "rows": []},
            "'rows' must be a non-empty list",
        ),
    ],
)
def test_the_reader_checks_unit_levels_and_rows(
    tmp_path: Path, document: dict, message: str
) -> None:
    with pytest.raises(RunFolderError, match=message):
        read_predictions_json(write(tmp_path / "predictions.json", document))
