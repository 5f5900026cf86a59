"""The published forecasts read from a runs folder; scoring them, their summary and the drift
warning, on tiny frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_factory import log_publication

from milk_forecast.model import track_record as tr
from milk_forecast.run_folder.layout import PREDICTIONS_JSON, PUBLICATIONS_FILE, RUN_JSON
from milk_forecast.run_folder.write import write_run_record

LEVELS = (0.8,)


def month(text: str) -> pd.Timestamp:
    return pd.Timestamp(f"{text}-01")


def published(rows: list[tuple[str, str, str, str, int, float, float]]) -> pd.DataFrame:
    """(run_id, published_at, origin, month, horizon, predicted, half_width)."""
    return pd.DataFrame(
        [
            {
                tr.RUN_ID: run,
                tr.PUBLISHED_AT: at,
                tr.ORIGIN: month(origin),
                "month": month(target),
                "horizon": horizon,
                "predicted_clp_per_l": predicted,
                "lower_80_clp_per_l": predicted - half,
                "upper_80_clp_per_l": predicted + half,
            }
            for run, at, origin, target, horizon, predicted, half in rows
        ]
    )


PRICE = pd.Series(
    [100.0, 110.0, 120.0],
    index=pd.DatetimeIndex([month(m) for m in ("2020-01", "2020-02", "2020-03")]),
)


def test_scores_equal_actual_minus_published_forecast() -> None:
    record = tr.score(
        published(
            [
                ("A", "t1", "2020-01", "2020-02", 1, 105.0, 3.0),
                ("A", "t1", "2020-01", "2020-03", 2, 118.0, 5.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    assert record["error_clp_per_l"].tolist() == [5.0, 2.0]
    assert record["in_80"].tolist() == [False, True]
    assert record["actual_clp_per_l"].tolist() == [110.0, 120.0]


def test_runs_with_the_same_origin_count_once_the_last_published() -> None:
    record = tr.score(
        published(
            [
                ("B", "t2", "2020-01", "2020-02", 1, 109.0, 3.0),
                ("A", "t1", "2020-01", "2020-02", 1, 90.0, 3.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    assert record["run_id"].tolist() == ["B"]


def test_months_without_a_known_price_are_not_scored() -> None:
    record = tr.score(published([("A", "t1", "2020-03", "2020-04", 1, 125.0, 3.0)]), PRICE, LEVELS)
    assert record.empty
    assert "in_80" in record.columns


def test_summary_per_horizon() -> None:
    record = tr.score(
        published(
            [
                ("A", "t1", "2020-01", "2020-02", 1, 106.0, 3.0),
                ("B", "t2", "2020-02", "2020-03", 1, 118.0, 3.0),
            ]
        ),
        PRICE,
        LEVELS,
    )
    summary = tr.summarize(record, LEVELS)
    assert summary["1"]["count"] == 2
    assert summary["1"]["rmse_clp_per_l"] == pytest.approx(np.sqrt((16 + 4) / 2))
    assert summary["1"]["mae_clp_per_l"] == pytest.approx(3.0)
    assert summary["1"]["inside"]["80"] == pytest.approx(0.5)


def one_month_record(errors: list[float], inside: list[bool]) -> pd.DataFrame:
    origins = pd.date_range("2019-01-01", periods=len(errors), freq="MS")
    return pd.DataFrame({tr.ORIGIN: origins, "horizon": 1, tr.ERROR: errors, "in_80": inside})


def test_drift_is_quiet_when_errors_are_as_promised() -> None:
    rng = np.random.default_rng(1)
    errors = list(rng.normal(0, 5.0, 6))
    status = tr.drift_status(one_month_record(errors, [True] * 5 + [False]), 5.0, LEVELS)
    assert status["status"] == "ok" and status["reasons"] == []


def test_drift_warns_on_errors_beyond_chance() -> None:
    status = tr.drift_status(
        one_month_record([12.0, -11.0, 10.0, -12.0, 11.0, 9.0], [True] * 6), 5.0, LEVELS
    )
    assert status["status"] == "warning"
    assert "above" in status["reasons"][0]
    assert status["rmse_limit_clp_per_l"] == pytest.approx(5.0 * 1.449, abs=0.01)


def test_drift_warns_on_too_many_interval_misses() -> None:
    status = tr.drift_status(
        one_month_record([1.0] * 6, [False, False, False, False, True, True]), 5.0, LEVELS
    )
    assert status["status"] == "warning"
    assert "missed 4 of the last 6" in status["reasons"][0]
    three = tr.drift_status(
        one_month_record([1.0] * 6, [False, False, False, True, True, True]), 5.0, LEVELS
    )
    assert three["status"] == "ok"  # 3 misses of 6 happen by chance about 1 time in 10


def test_drift_needs_a_full_window() -> None:
    status = tr.drift_status(one_month_record([30.0] * 5, [False] * 5), 5.0, LEVELS)
    assert status["status"] == "not_enough_history"


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
    history = tr.publication_history(tmp_path, log=lambda _: None)
    assert [(e["run_id"], e["by"]) for e in history] == [
        ("20260101T000001Z", "pipeline (before the log)"),
        ("20260101T000003Z", "pipeline"),
        ("20260101T000001Z", "publish"),
    ]


def test_published_forecasts_carry_origin_horizon_and_who_published(tmp_path: Path) -> None:
    make_run(tmp_path, "20260101T000001Z", "succeeded", "2020-01", [101.0, 102.0])
    publish(tmp_path, "20260101T000001Z", "pipeline")
    frame = tr.published_forecasts(tmp_path, log=lambda _: None)
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
    frame = tr.published_forecasts(tmp_path, log=lines.append)
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
    read = tr.forecast_rows
    monkeypatch.setattr(tr, "forecast_rows", lambda d: reads.append(d.name) or read(d))
    frame = tr.published_forecasts(tmp_path, log=lambda _: None)
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
    history = tr.publication_history(tmp_path, log=lines.append)
    assert [e["run_id"] for e in history] == ["20260101T000001Z"]
    assert len(lines) == tr.SHOWN_NOTES + 1
    assert "line 2: not a publication record" in lines[0]
    assert f"{1000 - tr.SHOWN_NOTES} more line(s) skipped" in lines[-1]
