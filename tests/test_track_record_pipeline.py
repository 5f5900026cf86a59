"""End to end: runs at successive data cuts leave a track record of what was published."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_cli import cli

from milk_forecast.data.columns import PRICE_COLUMN
from milk_forecast.data.cuts import write_cut
from milk_forecast.run_folder.layout import (
    CLEAN_FILE,
    FIGURES_DIR,
    LATEST,
    METRICS_FILE,
    MONTH,
    NOTEBOOKS_DIR,
    PREDICTIONS_JSON,
    RUN_JSON,
    TRACK_RECORD_CHART_FILE,
    TRACK_RECORD_FILE,
)
from milk_forecast.run_folder.metrics import DRIFT, DRIFT_UNKNOWN, TRACK_RECORD
from milk_forecast.run_folder.predictions import FORECAST, KIND, PREDICTED, read_predictions_json
from milk_forecast.run_folder.publications import PUBLISHED_BY_OPERATOR
from milk_forecast.run_folder.write import append_publication
from milk_forecast.runner.publish import publication

pytestmark = pytest.mark.slow


def run_at(cut: str, data_dir: Path, tmp_path: Path, runs_dir: Path, *extra: str) -> Path:
    """One pipeline run on the data as it was at ``cut``; its run folder."""
    result = cli(
        "--data-dir", write_cut(data_dir, tmp_path / cut, cut), "--runs-dir", runs_dir, *extra
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return runs_dir / (runs_dir / LATEST).read_text().strip()


def forecasts_of(run_dir: Path) -> pd.DataFrame:
    rows = pd.DataFrame(read_predictions_json(run_dir / PREDICTIONS_JSON)["rows"])
    return rows[rows[KIND] == FORECAST]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, sample_data_dir: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cuts")
    runs_dir = tmp / "runs"
    runs = {
        "a": run_at("2019-12", sample_data_dir, tmp, runs_dir),
        "b": run_at("2019-12", sample_data_dir, tmp, runs_dir, "--force"),  # same origin, later
        "c": run_at("2020-01", sample_data_dir, tmp, runs_dir),
    }
    # A publication that no longer holds: its run folder broke after it was served.
    broken = runs_dir / "20200101T000000Z"
    broken.mkdir()
    (broken / RUN_JSON).write_text("[not a record")
    append_publication(runs_dir, publication(broken.name, PUBLISHED_BY_OPERATOR))
    runs["d"] = run_at("2020-03", sample_data_dir, tmp, runs_dir)
    return runs


def test_the_last_run_scores_what_was_published_against_what_happened(history) -> None:
    last = history["d"]
    record = pd.read_parquet(last / TRACK_RECORD_FILE)
    assert sorted(record["run_id"].unique()) == sorted([history["b"].name, history["c"].name])
    monthly = pd.read_parquet(last / CLEAN_FILE).set_index(MONTH)
    for run in ("b", "c"):
        published = forecasts_of(history[run])
        scored = record[record["run_id"] == history[run].name]
        expected = published[pd.to_datetime(published["month"]) <= monthly.index.max()]
        assert scored["horizon"].tolist() == expected["horizon"].tolist()
        actual = monthly.loc[pd.to_datetime(expected["month"]), PRICE_COLUMN].to_numpy()
        np.testing.assert_allclose(scored["error_clp_per_l"], actual - expected[PREDICTED])


def test_runs_with_the_same_origin_count_once(history) -> None:
    record = pd.read_parquet(history["d"] / TRACK_RECORD_FILE)
    assert history["a"].name not in set(record["run_id"])  # b replaced it at origin 2019-12
    assert record.groupby("origin")["run_id"].nunique().max() == 1


def test_the_summary_the_notebook_and_the_broken_publication(history) -> None:
    last = history["d"]
    metrics = json.loads((last / METRICS_FILE).read_text())
    block = metrics[TRACK_RECORD]
    record = pd.read_parquet(last / TRACK_RECORD_FILE)
    one = record[record["horizon"] == 1]
    assert block["horizons"]["1"]["count"] == len(one) == 2  # origins 2019-12 and 2020-01
    rmse = float(np.sqrt(np.mean(one["error_clp_per_l"] ** 2)))
    assert block["horizons"]["1"]["rmse_clp_per_l"] == pytest.approx(rmse)
    assert metrics[DRIFT]["status"] == DRIFT_UNKNOWN
    notebook = (last / NOTEBOOKS_DIR / "04_train.ipynb").read_text()
    assert "20200101T000000Z left out" in notebook
    assert (last / FIGURES_DIR / TRACK_RECORD_CHART_FILE).stat().st_size > 0
