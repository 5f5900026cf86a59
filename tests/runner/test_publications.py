"""The publication log and the forecasts of the published runs."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import run_factory as factory

from milk_forecast import contracts
from milk_forecast.runner import publications
from milk_forecast.runner.run_folder import write_run_record


def make_run(
    runs_dir: Path, run_id: str, status: str, first_forecast: str, path: list[float]
) -> None:
    """A run folder with run.json and predictions.json holding a forecast path."""
    run_dir = runs_dir / run_id
    run_dir.mkdir(parents=True)
    year, month = int(first_forecast[:4]), int(first_forecast[5:])
    rows = [
        {"month": f"{year + (month - 2) // 12:04d}-{(month - 2) % 12 + 1:02d}", "kind": "backtest",
         "model": "m", "horizon": None, "reason": None, "actual_clp_per_l": 100.0, "predicted_clp_per_l": 99.0}
    ]  # fmt: skip
    for horizon, value in enumerate(path, 1):
        index = month - 1 + horizon - 1
        rows.append(
            {"month": f"{year + index // 12:04d}-{index % 12 + 1:02d}", "kind": "forecast", "model": "m",
             "horizon": horizon, "reason": "r", "actual_clp_per_l": None, "predicted_clp_per_l": value}
        )  # fmt: skip
    document = {"unit": "CLP/L", "interval_levels": [], "rows": rows}
    (run_dir / contracts.PREDICTIONS_JSON).write_text(json.dumps(document))
    write_run_record(
        run_dir, {"status": status, "finished_at": f"{run_id[:4]}-01-01T00:00:{run_id[13:15]}Z"}
    )


def test_append_then_read_back_skipping_a_torn_line(tmp_path: Path) -> None:
    publications.append_publication(tmp_path, "20261127T120301Z", "pipeline")
    with (tmp_path / contracts.PUBLICATIONS_FILE).open("a") as handle:
        handle.write('{"run_id": "20261127T1203')  # a crash mid-append
    entries, notes = contracts.read_publications(tmp_path)
    assert [e["run_id"] for e in entries] == ["20261127T120301Z"]
    assert entries[0]["by"] == "pipeline"
    assert notes and "line 2: not a publication record" in notes[0]


def test_a_missing_log_is_empty(tmp_path: Path) -> None:
    assert contracts.read_publications(tmp_path) == ([], [])


def test_history_counts_runs_before_the_log_then_the_log(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [1.0])
    make_run(tmp_path, "20260101T000002Z", "failed", "2020-02", [1.0])
    make_run(tmp_path, "20260101T000003Z", "succeeded", "2020-03", [1.0])
    publications.append_publication(tmp_path, "20260101T000003Z", "pipeline")
    publications.append_publication(tmp_path, "20260101T000001Z", "publish")  # a rollback
    history = publications.publication_history(tmp_path, log=lambda _: None)
    assert [(e["run_id"], e["by"]) for e in history] == [
        ("20260101T000001Z", "pipeline (before the log)"),
        ("20260101T000003Z", "pipeline"),
        ("20260101T000001Z", "publish"),
    ]


def test_published_forecasts_carry_origin_horizon_and_who_published(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0, 102.0])
    publications.append_publication(tmp_path, "20260101T000001Z", "pipeline")
    frame = publications.published_forecasts(tmp_path, log=lambda _: None)
    assert frame["horizon"].tolist() == [1, 2]
    assert frame["origin"].tolist() == [pd.Timestamp("2019-12-01")] * 2
    assert frame["predicted_clp_per_l"].tolist() == [101.0, 102.0]
    assert frame["run_id"].tolist() == ["20260101T000001Z"] * 2


def test_a_published_run_that_broke_is_left_out_with_a_line(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0])
    publications.append_publication(tmp_path, "20260101T000001Z", "pipeline")
    (tmp_path / "20260101T000001Z" / contracts.PREDICTIONS_JSON).write_text("{broken")
    (tmp_path / "20260101T000001Z" / contracts.RUN_JSON).write_text('{"status": "succeeded"}')
    lines: list[str] = []
    frame = publications.published_forecasts(tmp_path, log=lines.append)
    assert frame.empty
    assert lines and "20260101T000001Z left out" in lines[0] and "predictions.json" in lines[0]


@pytest.mark.parametrize(
    "text", ['{"run_id": "../../etc", "published_at": "x", "by": "y"}', "[1]", '"x"']
)
def test_records_that_are_not_publications_are_skipped(tmp_path: Path, text: str) -> None:
    (tmp_path / contracts.PUBLICATIONS_FILE).write_text(text + "\n")
    entries, notes = contracts.read_publications(tmp_path)
    assert entries == [] and len(notes) == 1


def test_publish_existing_serves_an_earlier_run_and_logs_it(tmp_path: Path) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    factory.make_run(tmp_path, "20261127T120302Z")
    entry = publications.publish_existing(tmp_path, "20261127T120301Z")
    assert (tmp_path / contracts.LATEST).read_text().strip() == "20261127T120301Z"
    assert entry["by"] == contracts.PUBLISHED_BY_OPERATOR
    entries, _ = contracts.read_publications(tmp_path)
    assert entries[-1] == entry


@pytest.mark.parametrize(
    ("prepare", "run_id", "message"),
    [
        (lambda d: None, "20261127T999999Z", "there is no run"),
        (lambda d: None, "../etc", "is not a run id"),
        (
            lambda d: factory.make_run(d, "20261127T120303Z", status="failed", publish=False),
            "20261127T120303Z",
            "'status' is 'failed', not 'succeeded'",
        ),
        (
            lambda d: (
                factory.make_run(d, "20261127T120303Z", publish=False),
                (d / "20261127T120303Z" / contracts.PREDICTIONS_JSON).write_text("{}"),
            ),
            "20261127T120303Z",
            "predictions.json",
        ),
    ],
)
def test_a_run_that_cannot_be_served_is_refused_and_latest_stays(
    tmp_path: Path, prepare, run_id: str, message: str
) -> None:
    factory.make_run(tmp_path, "20261127T120301Z")
    prepare(tmp_path)
    with pytest.raises(publications.PublishError, match=message):
        publications.publish_existing(tmp_path, run_id)
    assert (tmp_path / contracts.LATEST).read_text().strip() == "20261127T120301Z"
    assert contracts.read_publications(tmp_path)[0] == []
