"""End to end: a run scores the forecasts published before it against what happened since.

The published runs are made by ``run_factory`` (as docs/contracts.md describes a run
folder) at successive data cuts; the run that scores them is a real pipeline run on the
sample cut later, reading the publication log.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pipeline_cli import main
from run_factory import build_rows, make_run, write_publications

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
from milk_forecast.run_folder.publication import PUBLISHED_BY_OPERATOR, PUBLISHED_BY_PIPELINE

pytestmark = pytest.mark.slow

# Published runs: (name, run id, last observed month, published at).
PUBLISHED = [
    ("a", "20200102T000000Z", "2019-12", "2020-01-02T00:00:42Z"),
    ("b", "20200103T000000Z", "2019-12", "2020-01-03T00:00:42Z"),  # same origin, later
    ("c", "20200202T000000Z", "2020-01", "2020-02-02T00:00:42Z"),
]
BROKEN = "20200203T000000Z"  # its publication no longer holds: the folder broke after it
REPEATS = 1000  # b, c and BROKEN republished, and b's line duplicated, this many times each


def forecasts_of(run_dir: Path) -> pd.DataFrame:
    rows = pd.DataFrame(read_predictions_json(run_dir / PREDICTIONS_JSON)["rows"])
    return rows[rows[KIND] == FORECAST]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory, sample_data_dir: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cuts")
    runs_dir = tmp / "runs"
    runs = {
        name: make_run(runs_dir, run_id, rows=build_rows(last_observed=last))
        for name, run_id, last, _ in PUBLISHED
    }
    (runs_dir / BROKEN).mkdir()
    (runs_dir / BROKEN / RUN_JSON).write_text("[not a record")
    again = [(runs["b"].name, PUBLISHED[1][3], PUBLISHED_BY_PIPELINE)] * REPEATS  # duplicated
    for run_id in (runs["b"].name, runs["c"].name, BROKEN):  # republished: nothing new to score
        times = [f"2020-02-04T{i // 60:02d}:{i % 60:02d}:00Z" for i in range(REPEATS)]
        again += [(run_id, at, PUBLISHED_BY_OPERATOR) for at in times]
    write_publications(
        runs_dir,
        [(run_id, at, PUBLISHED_BY_PIPELINE) for _, run_id, _, at in PUBLISHED]
        + [(BROKEN, "2020-02-03T00:00:42Z", PUBLISHED_BY_OPERATOR)]
        + again,
    )
    data_dir = write_cut(sample_data_dir, tmp / "2020-03", "2020-03")
    result = main("--data-dir", data_dir, "--runs-dir", runs_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    runs["d"] = runs_dir / (runs_dir / LATEST).read_text().strip()
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
    assert notebook.count(f"{BROKEN} left out") == 1  # read once, however often published
    assert (last / FIGURES_DIR / TRACK_RECORD_CHART_FILE).stat().st_size > 0
