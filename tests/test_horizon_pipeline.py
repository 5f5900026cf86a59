"""End to end through ``run_pipeline.py``: the 12-month path with any interval levels."""

from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_cli import main

from milk_forecast.run_folder.layout import (
    FAN_CHART_FILE,
    FIGURES_DIR,
    METRICS_FILE,
    PREDICTIONS_JSON,
)
from milk_forecast.run_folder.metrics import CALIBRATION, FORECAST_PATH, read_metrics
from milk_forecast.run_folder.predictions import FORECAST, read_predictions_json
from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.record import read_run_record
from milk_forecast.runner.options import EXIT_OK, EXIT_USAGE

pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[1]


NINE_LEVELS = [0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 0.99]  # 52b3548 failed from 9


def test_other_interval_levels_flow_through_a_whole_run(sample_data_dir: Path, tmp_path: Path):
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", tmp_path, "-p", "interval_levels", str(NINE_LEVELS)
    )  # fmt: skip
    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    run_dir = tmp_path / read_latest(tmp_path)
    metrics = read_metrics(run_dir / METRICS_FILE)
    labels = ["50", "60", "70", "75", "80", "85", "90", "95", "99"]
    assert metrics["interval_levels"] == NINE_LEVELS
    assert list(metrics[CALIBRATION]["horizons"]["1"]) == labels
    document = read_predictions_json(run_dir / PREDICTIONS_JSON)
    path = [row for row in document["rows"] if row["kind"] == FORECAST]
    assert [row["horizon"] for row in path] == list(range(1, 13))
    assert all(row["lower_99_clp_per_l"] < row["lower_50_clp_per_l"] for row in path)
    assert (run_dir / FIGURES_DIR / FAN_CHART_FILE).stat().st_size > 0  # every band drawn
    record = read_run_record(run_dir)
    assert record[FORECAST_PATH] == metrics[FORECAST_PATH]
    # the summary prints the path's 1st, 3rd, 6th and 12th month with every level
    after = result.stdout.split("path, months ahead:")[1].split("track record:")[0]
    lines = after.strip().splitlines()
    assert [line.split(":")[0].strip() for line in lines] == ["1", "3", "6", "12"]
    assert all(all(f"{label}% " in line for label in labels) for line in lines)
    assert lines[-1].split(":", 1)[1].strip().startswith(path[-1]["month"])


def test_a_level_outside_zero_one_is_refused_naming_it(sample_data_dir: Path, tmp_path: Path):
    result = main(
        "--data-dir", sample_data_dir, "--runs-dir", tmp_path, "-p", "interval_levels", "[0.8, 1.5]"
    )  # fmt: skip
    assert result.returncode == EXIT_USAGE
    assert "interval_levels" in result.stdout + result.stderr and "(0, 1)" in result.stderr
    assert read_latest(tmp_path) is None
