"""End to end: runs at successive data cuts leave a track record of what was published."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_cli import cli

from milk_forecast import contracts
from milk_forecast.data.cuts import write_cut
from milk_forecast.runner.publications import append_publication

pytestmark = pytest.mark.slow


def run_at(cut: str, data_dir: Path, tmp_path: Path, runs_dir: Path, *extra: str) -> Path:
    """One pipeline run on the data as it was at ``cut``; its run folder."""
    result = cli(
        "--data-dir", write_cut(data_dir, tmp_path / cut, cut), "--runs-dir", runs_dir, *extra
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return runs_dir / (runs_dir / contracts.LATEST).read_text().strip()


def forecasts_of(run_dir: Path) -> pd.DataFrame:
    rows = pd.DataFrame(
        contracts.read_predictions_json(run_dir / contracts.PREDICTIONS_JSON)["rows"]
    )
    return rows[rows[contracts.KIND] == contracts.FORECAST]


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
    (broken / contracts.RUN_JSON).write_text("[not a record")
    append_publication(runs_dir, broken.name, contracts.PUBLISHED_BY_OPERATOR)
    runs["d"] = run_at("2020-03", sample_data_dir, tmp, runs_dir)
    return runs


def test_the_last_run_scores_what_was_published_against_what_happened(history) -> None:
    last = history["d"]
    record = pd.read_parquet(last / contracts.TRACK_RECORD_FILE)
    assert sorted(record["run_id"].unique()) == sorted([history["b"].name, history["c"].name])
    monthly = pd.read_parquet(last / contracts.CLEAN_FILE).set_index(contracts.MONTH)
    for run in ("b", "c"):
        published = forecasts_of(history[run])
        scored = record[record["run_id"] == history[run].name]
        expected = published[pd.to_datetime(published["month"]) <= monthly.index.max()]
        assert scored["horizon"].tolist() == expected["horizon"].tolist()
        actual = monthly.loc[pd.to_datetime(expected["month"]), contracts.PRICE_COLUMN].to_numpy()
        np.testing.assert_allclose(
            scored["error_clp_per_l"], actual - expected[contracts.PREDICTED]
        )


def test_runs_with_the_same_origin_count_once(history) -> None:
    record = pd.read_parquet(history["d"] / contracts.TRACK_RECORD_FILE)
    assert history["a"].name not in set(record["run_id"])  # b replaced it at origin 2019-12
    assert record.groupby("origin")["run_id"].nunique().max() == 1


def test_the_summary_the_notebook_and_the_broken_publication(history) -> None:
    last = history["d"]
    metrics = json.loads((last / contracts.METRICS_FILE).read_text())
    block = metrics[contracts.TRACK_RECORD]
    record = pd.read_parquet(last / contracts.TRACK_RECORD_FILE)
    one = record[record["horizon"] == 1]
    assert block["horizons"]["1"]["count"] == len(one) == 2  # origins 2019-12 and 2020-01
    rmse = float(np.sqrt(np.mean(one["error_clp_per_l"] ** 2)))
    assert block["horizons"]["1"]["rmse_clp_per_l"] == pytest.approx(rmse)
    assert metrics[contracts.DRIFT]["status"] == contracts.DRIFT_UNKNOWN
    notebook = (last / contracts.NOTEBOOKS_DIR / "04_train.ipynb").read_text()
    assert "20200101T000000Z left out" in notebook
    assert (last / contracts.FIGURES_DIR / contracts.TRACK_RECORD_CHART_FILE).stat().st_size > 0
