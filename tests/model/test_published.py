"""The forecasts that were published, read from the runs folder for the track record."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from run_factory import log_publication

from milk_forecast.model import published
from milk_forecast.model.published import publication_history, published_forecasts
from milk_forecast.run_folder.layout import PREDICTIONS_JSON, PUBLICATIONS_FILE, RUN_JSON
from milk_forecast.run_folder.write import write_run_record


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
    (run_dir / PREDICTIONS_JSON).write_text(json.dumps(document))
    write_run_record(
        run_dir, {"status": status, "finished_at": f"{run_id[:4]}-01-01T00:00:{run_id[13:15]}Z"}
    )


def publish(runs_dir: Path, run_id: str, by: str) -> None:
    log_publication(runs_dir, {"run_id": run_id, "published_at": "2026-06-01T00:00:00Z", "by": by})


def test_history_counts_runs_before_the_log_then_the_log(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [1.0])
    make_run(tmp_path, "20260101T000002Z", "failed", "2020-02", [1.0])
    make_run(tmp_path, "20260101T000003Z", "succeeded", "2020-03", [1.0])
    publish(tmp_path, "20260101T000003Z", "pipeline")
    publish(tmp_path, "20260101T000001Z", "publish")  # a rollback
    history = publication_history(tmp_path, log=lambda _: None)
    assert [(e["run_id"], e["by"]) for e in history] == [
        ("20260101T000001Z", "pipeline (before the log)"),
        ("20260101T000003Z", "pipeline"),
        ("20260101T000001Z", "publish"),
    ]


def test_published_forecasts_carry_origin_horizon_and_who_published(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0, 102.0])
    publish(tmp_path, "20260101T000001Z", "pipeline")
    frame = published_forecasts(tmp_path, log=lambda _: None)
    assert frame["horizon"].tolist() == [1, 2]
    assert frame["origin"].tolist() == [pd.Timestamp("2019-12-01")] * 2
    assert frame["predicted_clp_per_l"].tolist() == [101.0, 102.0]
    assert frame["run_id"].tolist() == ["20260101T000001Z"] * 2


def test_a_published_run_that_broke_is_left_out_with_a_line(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0])
    publish(tmp_path, "20260101T000001Z", "pipeline")
    (tmp_path / "20260101T000001Z" / PREDICTIONS_JSON).write_text("{broken")
    (tmp_path / "20260101T000001Z" / RUN_JSON).write_text('{"status": "succeeded"}')
    lines: list[str] = []
    frame = published_forecasts(tmp_path, log=lines.append)
    assert frame.empty
    assert lines and "20260101T000001Z left out" in lines[0] and "predictions.json" in lines[0]


def test_each_run_is_read_once_at_its_last_publication(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = "20260101T000001Z", "20260101T000002Z"
    make_run(tmp_path, first, "succeeded", "2020-01", [101.0])
    make_run(tmp_path, second, "succeeded", "2020-01", [102.0])
    log = [(first, "2026-06-01T00:00:00Z"), (second, "2026-06-02T00:00:00Z")]
    log += [(first, "2026-06-03T00:00:00Z")] * 300  # republished, the line duplicated
    for run_id, at in log:
        log_publication(tmp_path, {"run_id": run_id, "published_at": at, "by": "publish"})
    reads: list[str] = []
    read = published.forecast_rows
    monkeypatch.setattr(published, "forecast_rows", lambda d: reads.append(d.name) or read(d))
    frame = published_forecasts(tmp_path, log=lambda _: None)
    assert sorted(reads) == [first, second]
    assert frame[["run_id", "published_at"]].values.tolist() == [
        [second, "2026-06-02T00:00:00Z"],
        [first, "2026-06-03T00:00:00Z"],  # the publication that counts: the last
    ]


def test_a_log_of_many_bad_lines_is_summed_up_in_a_few(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0])
    publish(tmp_path, "20260101T000001Z", "pipeline")
    with (tmp_path / PUBLICATIONS_FILE).open("a") as log:
        log.write('{"run_id": "x"}\n' * 1000)
    lines: list[str] = []
    history = publication_history(tmp_path, log=lines.append)
    assert [e["run_id"] for e in history] == ["20260101T000001Z"]
    assert len(lines) == published.SHOWN_NOTES + 1
    assert "line 2: not a publication record" in lines[0]
    assert f"{1000 - published.SHOWN_NOTES} more line(s) skipped" in lines[-1]
