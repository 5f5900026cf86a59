from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from run_factory import build_predictions, make_run

from milk_forecast import contracts
from milk_forecast.runner import run_folder
from milk_forecast.service import serving

RUN_A = "20261127T120301Z"
RUN_B = "20261128T080000Z"


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    path = tmp_path / "runs"
    path.mkdir()
    return path


# --- parameters and JSON -------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("1", 1), ("12", 12), ("07", 7)])
def test_parse_int_param_accepts_integers_in_range(text: str, expected: int) -> None:
    assert serving.parse_int_param("month", [text], 1, 12) == expected


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ([], "is missing"),
        (["1", "2"], "given 2 times"),
        (["abc"], "not an integer"),
        (["1.0"], "not an integer"),
        ([" 1"], "not an integer"),
        (["+1"], "not an integer"),
        (["1_0"], "not an integer"),
        (["\u0661"], "not an integer"),  # ARABIC-INDIC DIGIT ONE: int() would accept it
        ([""], "not an integer"),
        (["0"], "out of range"),
        (["13"], "out of range"),
        (["-1"], "out of range"),
        (["9" * 5000], "out of range"),
    ],
)
def test_parse_int_param_rejects_with_422_naming_the_parameter(
    values: list[str], problem: str
) -> None:
    with pytest.raises(serving.ApiError) as caught:
        serving.parse_int_param("month", values, 1, 12)
    error = caught.value.payload()["error"]
    assert error["status"] == 422
    assert error["parameter"] == "month"
    assert error["allowed"] == "integer from 1 to 12"
    assert problem in error["message"]
    assert len(error["message"]) < 200  # a huge value is not echoed back in full


def test_dumps_turns_nan_and_infinity_into_null() -> None:
    payload = {"a": float("nan"), "b": [1.5, float("inf")], "c": {"d": -float("inf")}}
    assert json.loads(serving.dumps(payload)) == {"a": None, "b": [1.5, None], "c": {"d": None}}


# --- loading a run ---------------------------------------------------------------------------


def test_load_served_run_precomputes_one_body_per_prediction_row(runs_dir: Path) -> None:
    frame = build_predictions()
    make_run(runs_dir, RUN_A, predictions=frame)
    served = serving.load_served_run(runs_dir, RUN_A)
    assert len(served.bodies) == len(frame)
    for row in frame.itertuples():
        body = json.loads(served.predict_body(row.month.year, row.month.month))
        assert body["prediction"] == pytest.approx(row.predicted_clp_per_l)
        assert body["kind"] == row.kind
        assert body["run_id"] == RUN_A
        if np.isnan(row.actual_clp_per_l):
            assert body["actual"] is None
        else:
            assert body["actual"] == pytest.approx(row.actual_clp_per_l)
        if row.kind == "in_sample":
            assert body["interval"] is None
        else:
            assert body["interval"]["95"]["lower"] == pytest.approx(row.lower_95_clp_per_l)
            assert body["interval"]["80"]["upper"] == pytest.approx(row.upper_80_clp_per_l)
    assert served.first_month == f"{frame['month'].iloc[0]:%Y-%m}"
    assert served.last_month == f"{frame['month'].iloc[-1]:%Y-%m}"


def test_forecast_body_adds_the_metrics_reason(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    served = serving.load_served_run(runs_dir, RUN_A)
    body = json.loads(served.forecast_body)
    assert body["kind"] == "forecast"
    assert body["actual"] is None
    assert body["reason"] == served.metrics["forecast"]["reason"]
    assert body["interval"]["80"]["lower"] == served.metrics["forecast"]["lower_80_clp_per_l"]


def test_predict_body_outside_the_run_is_a_404_with_the_covered_range(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, predictions=build_predictions(first="2016-03"))
    served = serving.load_served_run(runs_dir, RUN_A)
    with pytest.raises(serving.ApiError) as caught:
        served.predict_body(2016, 2)
    error = caught.value.payload()["error"]
    assert (error["status"], error["first_month"], error["last_month"]) == (
        404,
        "2016-03",
        "2020-05",
    )
    assert "2016-02" in error["message"]


def test_data_source_reads_synthetic_sample(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, synthetic=False)
    assert serving.load_served_run(runs_dir, RUN_A).summary["data_source"] == "real"
    assert contracts.data_source(None) == "unknown"


def _no_model(run_dir: Path) -> None:
    (run_dir / contracts.MODEL_FILE).unlink()


def _corrupt_model(run_dir: Path) -> None:
    (run_dir / contracts.MODEL_FILE).write_bytes(b"not a pickle")


def _corrupt_predictions(run_dir: Path) -> None:
    (run_dir / contracts.PREDICTIONS_FILE).write_bytes(b"PAR1 garbage")


def _no_metrics(run_dir: Path) -> None:
    (run_dir / contracts.METRICS_FILE).unlink()


def _failed_status(run_dir: Path) -> None:
    record = contracts.read_run_record(run_dir)
    run_folder.write_run_record(run_dir, {**record, "status": contracts.FAILED})


def _unknown_kind(run_dir: Path) -> None:
    frame = build_predictions()
    frame.loc[3, "kind"] = "guess"
    frame.to_parquet(run_dir / contracts.PREDICTIONS_FILE)


def _missing_column(run_dir: Path) -> None:
    build_predictions().drop(columns="predicted_clp_per_l").to_parquet(
        run_dir / contracts.PREDICTIONS_FILE
    )


BREAKAGES = {  # name: (how to break a run folder, what the refusal must name)
    "no_model": (_no_model, "model.joblib"),
    "corrupt_model": (_corrupt_model, "model.joblib"),
    "corrupt_predictions": (_corrupt_predictions, "predictions.parquet"),
    "no_metrics": (_no_metrics, "metrics.json"),
    "failed_status": (_failed_status, "'failed'"),
    "unknown_kind": (_unknown_kind, "'guess'"),
    "missing_column": (_missing_column, "predicted_clp_per_l"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_load_served_run_refuses_broken_runs_naming_the_problem(
    runs_dir: Path, breakage: str
) -> None:
    breaker, needle = BREAKAGES[breakage]
    breaker(make_run(runs_dir, RUN_A))
    with pytest.raises(serving.RunRefusedError, match=needle):
        serving.load_served_run(runs_dir, RUN_A)


# --- the store: reload and refusal ------------------------------------------------------------


def test_store_serves_latest_and_swaps_to_a_newer_run(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    store = serving.RunStore(runs_dir, reload_interval=0)
    assert store.refresh() is True
    first = store.served
    assert first.run_id == RUN_A
    assert store.refresh() is False  # LATEST unchanged: nothing reloaded
    assert store.served is first
    make_run(runs_dir, RUN_B)
    assert store.refresh() is True
    assert store.served.run_id == RUN_B


def test_store_without_latest_serves_nothing_and_says_how_to_make_a_run(runs_dir: Path) -> None:
    store = serving.RunStore(runs_dir)
    assert store.refresh() is False
    assert store.served is None
    error = store.no_run_error().payload()["error"]
    assert error["status"] == 503
    assert "python run_pipeline.py" in error["message"]


@pytest.mark.parametrize("breakage", ["no_model", "corrupt_predictions", "failed_status"])
def test_store_keeps_the_old_run_when_the_newest_is_broken_and_logs_once(
    runs_dir: Path, caplog: pytest.LogCaptureFixture, breakage: str
) -> None:
    breaker, needle = BREAKAGES[breakage]
    make_run(runs_dir, RUN_A)
    store = serving.RunStore(runs_dir, reload_interval=0)
    store.refresh()
    breaker(make_run(runs_dir, RUN_B, publish=False))
    run_folder.publish_latest(runs_dir, RUN_B)
    with caplog.at_level(logging.ERROR, logger=serving.__name__):
        for _ in range(3):
            store.refresh()
            run_folder.publish_latest(runs_dir, RUN_B)  # rewritten LATEST, same refused id
        store.refresh()
    assert store.served.run_id == RUN_A
    refusals = [record for record in caplog.records if RUN_B in record.getMessage()]
    assert len(refusals) == 1
    assert needle in refusals[0].getMessage()
    assert RUN_B in store.refused


def test_store_refuses_garbage_in_latest_once(
    runs_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_run(runs_dir, RUN_A)
    store = serving.RunStore(runs_dir, reload_interval=0)
    store.refresh()
    with caplog.at_level(logging.ERROR, logger=serving.__name__):
        for _ in range(2):
            (runs_dir / contracts.LATEST).write_text("../../etc\n")
            store.refresh()
    assert store.served.run_id == RUN_A
    assert len([r for r in caplog.records if "not a run id" in r.getMessage()]) == 1


def test_store_first_run_refused_leaves_503_with_the_reason(runs_dir: Path) -> None:
    _no_model(make_run(runs_dir, RUN_A))
    store = serving.RunStore(runs_dir)
    store.refresh()
    assert store.served is None
    assert "model.joblib" in store.no_run_error().message


def test_store_due_at_most_once_per_interval() -> None:
    now = [100.0]
    store = serving.RunStore(Path("unused"), reload_interval=1.0, clock=lambda: now[0])
    assert store.due() is True
    now[0] += 0.5
    assert store.due() is False
    now[0] += 0.6
    assert store.due() is True


def test_changed_detects_an_atomic_replacement_of_latest(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    store = serving.RunStore(runs_dir, reload_interval=0)
    store.refresh()
    assert store.changed() is False
    run_folder.publish_latest(runs_dir, RUN_A)
    assert store.changed() is True


# --- monitoring views ------------------------------------------------------------------------


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_runs_payload_lists_newest_first_with_effective_status(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    failed = make_run(runs_dir, RUN_B, status=contracts.FAILED, publish=False)
    error = {
        "stage": "04_train",
        "notebook": "x",
        "cell": 3,
        "exception": "ValueError",
        "message": "m",
    }
    run_folder.write_run_record(failed, {**contracts.read_run_record(failed), "error": error})
    running = make_run(runs_dir, "20261129T000000Z", status=contracts.RUNNING, publish=False)
    run_folder.write_run_record(running, {**contracts.read_run_record(running), "pid": dead_pid()})
    broken = runs_dir / "20261130T000000Z"
    broken.mkdir()
    payload = serving.runs_payload(runs_dir, RUN_A)
    rows = {row["run_id"]: row for row in payload["runs"]}
    assert [row["run_id"] for row in payload["runs"]] == sorted(rows, reverse=True)
    assert rows[RUN_A]["status"] == "succeeded" and rows[RUN_A]["served"] is True
    assert rows[RUN_B]["status"] == "failed" and rows[RUN_B]["error"] == error
    assert rows["20261129T000000Z"]["status"] == contracts.INCOMPLETE
    assert "run.json" in rows["20261130T000000Z"]["error"]["message"]
    assert [row["served"] for row in payload["runs"]].count(True) == 1


@pytest.mark.parametrize(
    "run_id", ["..", "../runs", "..\\x", "20261127T120301Z/..", "/etc/passwd", "", "x" * 500]
)
def test_run_payload_never_leaves_the_runs_folder(runs_dir: Path, run_id: str) -> None:
    (runs_dir.parent / contracts.RUN_JSON).write_text('{"status": "succeeded"}')
    with pytest.raises(serving.ApiError) as caught:
        serving.run_payload(runs_dir, run_id, None)
    assert caught.value.status == 404
    assert len(caught.value.message) < 200


def test_run_payload_of_a_run_without_run_json_reports_it(runs_dir: Path) -> None:
    (runs_dir / RUN_A).mkdir()
    payload = serving.run_payload(runs_dir, RUN_A, None)
    assert payload["status"] == contracts.INCOMPLETE
    assert payload["run"] is None and payload["metrics"] is None
    assert "run.json" in payload["error"]


def test_run_payload_returns_run_json_and_metrics(runs_dir: Path) -> None:
    run_dir = make_run(runs_dir, RUN_A)
    payload = serving.run_payload(runs_dir, RUN_A, RUN_A)
    assert payload["run"] == contracts.read_run_record(run_dir)
    assert payload["metrics"] == json.loads((run_dir / contracts.METRICS_FILE).read_text())
    assert payload["served"] is True


def test_prediction_payload_without_interval_columns_has_null_interval() -> None:
    row = {
        "month": pd.Timestamp("2020-01-01"),
        "actual_clp_per_l": 1.0,
        "predicted_clp_per_l": 2.0,
        "kind": "backtest",
        "model": "m",
    }
    payload = serving.prediction_payload(row, RUN_A, [0.8, 0.95])
    assert payload["interval"] is None
    assert (payload["year"], payload["month"], payload["unit"]) == (2020, 1, "CLP/L")
