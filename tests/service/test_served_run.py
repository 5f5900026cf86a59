from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from run_factory import build_rows, make_run, publish_latest

from milk_forecast.run_folder.layout import METRICS_FILE, PREDICTIONS_JSON, RUN_JSON
from milk_forecast.run_folder.layout import RunFolderError as RefusedError
from milk_forecast.run_folder.servable import load_servable
from milk_forecast.service.answers import ApiError
from milk_forecast.service.served_run import ServedRun

RUN_A = "20261127T120301Z"


def load(runs_dir: Path, run_id: str = RUN_A) -> ServedRun:
    return ServedRun(load_servable(runs_dir, run_id))


def test_one_body_per_row_prices_rounded_to_cents(runs_dir: Path) -> None:
    rows = build_rows()
    make_run(runs_dir, RUN_A, rows=rows)
    served = load(runs_dir)
    assert len(served.bodies) == len(rows)
    for row in rows:
        body = json.loads(served.predict_body(int(row["month"][:4]), int(row["month"][5:])))
        assert body["prediction"] == round(row["predicted_clp_per_l"], 2)
        assert body["kind"] == row["kind"] and body["horizon"] == row["horizon"]
        assert body["actual"] == (row["actual_clp_per_l"] and round(row["actual_clp_per_l"], 2))
        if row["kind"] == "in_sample":
            assert body["interval"] is None
        else:
            assert body["interval"]["95"]["lower"] == round(row["lower_95_clp_per_l"], 2)
    summary = served.summary
    assert (summary["first_month"], summary["last_month"]) == (rows[0]["month"], rows[-1]["month"])


def test_the_usual_query_strings_map_to_the_bodies(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A)
    served = load(runs_dir)
    body = served.predict_body(2020, 4)
    assert served.queries[b"year=2020&month=4"] == served.queries[b"month=4&year=2020"] == body
    assert len(served.queries) == 2 * len(served.bodies)


def test_the_path_and_each_horizon_are_precomputed(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(horizons=6))
    served = load(runs_dir)
    path = json.loads(served.forecast_body())["path"]
    assert [item["horizon"] for item in path] == [1, 2, 3, 4, 5, 6]
    assert [json.loads(served.forecast_body(h)) for h in range(1, 7)] == path
    with pytest.raises(ApiError) as caught:
        served.forecast_body(7)
    error = caught.value.payload()["error"]
    assert (error["status"], error["first_month"], error["last_month"]) == (
        404,
        "2020-05",
        "2020-10",
    )


def test_a_month_outside_the_run_is_a_404_with_the_covered_range(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, rows=build_rows(first="2016-03"))
    with pytest.raises(ApiError) as caught:
        load(runs_dir).predict_body(2016, 2)
    error = caught.value.payload()["error"]
    assert (error["status"], error["first_month"], error["last_month"]) == (
        404,
        "2016-03",
        "2021-04",
    )
    assert "2016-02" in error["message"]


def test_data_source_reads_synthetic_sample(runs_dir: Path) -> None:
    make_run(runs_dir, RUN_A, synthetic=False)
    assert load(runs_dir).summary["data_source"] == "real"


# --- every way a run folder can be wrong is a refusal naming the file -------------------------


def edit_json(name: str, change: Callable[[Any], Any]) -> Callable[[Path], None]:
    def breaker(run_dir: Path) -> None:
        path = run_dir / name
        path.write_text(json.dumps(change(json.loads(path.read_text()))))

    return breaker


def edit_row(index: int, **values: Any) -> Callable[[Path], None]:
    def change(document: dict) -> dict:
        document["rows"][index].update(values)
        return document

    return edit_json(PREDICTIONS_JSON, change)


def write(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).write_bytes(content)


def replace(name: str, make: Callable[[Path], Any]) -> Callable[[Path], None]:
    def breaker(run_dir: Path) -> None:
        (run_dir / name).unlink()
        make(run_dir / name)

    return breaker


def outside_symlink(run_dir: Path) -> None:
    outside = run_dir.parent.parent / "outside.json"
    os.replace(run_dir / PREDICTIONS_JSON, outside)
    (run_dir / PREDICTIONS_JSON).symlink_to(outside)


PREDICTIONS = PREDICTIONS_JSON
BREAKAGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "no_predictions": (lambda d: (d / PREDICTIONS).unlink(), "predictions.json: missing"),
    "no_metrics": (lambda d: (d / METRICS_FILE).unlink(), "metrics.json: missing"),
    "no_run_json": (lambda d: (d / RUN_JSON).unlink(), "run.json: missing"),
    "failed_status": (
        edit_json(RUN_JSON, lambda r: {**r, "status": "failed"}),
        "'failed'",
    ),
    "run_json_list": (write(RUN_JSON, b"[1]"), "expected a JSON object"),
    "not_utf8": (write(PREDICTIONS, b'{"rows": "\xff"}'), "UnicodeDecodeError"),
    "deep_run_json": (write(RUN_JSON, b"[" * 50_000 + b"]" * 50_000), "RecursionError"),
    "huge": (write(PREDICTIONS, b" " * (5 * 1024 * 1024)), "more than the"),
    "fifo": (replace(PREDICTIONS, os.mkfifo), "is a FIFO"),
    "directory": (replace(PREDICTIONS, Path.mkdir), "is a directory"),
    "outside_symlink": (outside_symlink, "leads outside"),
    "text_price": (edit_row(3, predicted_clp_per_l="330.5"), "not a positive number"),
    "text_interval": (edit_row(-1, lower_80_clp_per_l="low"), "interval"),
    "unknown_kind": (edit_row(3, kind="guess"), "'guess'"),
    "text_horizon": (edit_row(-1, horizon="12"), "integer horizon"),
    "rows_object": (
        edit_json(PREDICTIONS, lambda d: {**d, "rows": {"a": 1}}),
        "'rows' must be a non-empty list",
    ),
    "levels_text": (
        edit_json(METRICS_FILE, lambda m: {**m, "interval_levels": "0.8"}),
        "interval_levels",
    ),
    "headline_text": (
        edit_json(METRICS_FILE, lambda m: {**m, "headline": {"rmse_clp_per_l": "6"}}),
        "headline",
    ),
    "levels_differ": (
        edit_json(PREDICTIONS, lambda d: {**d, "interval_levels": [0.8]}),
        "differ from metrics.json",
    ),
    "wrong_unit": (edit_json(PREDICTIONS, lambda d: {**d, "unit": "USD/L"}), "not CLP/L"),
    "horizons_gap": (edit_row(-1, horizon=5), "forecast horizons are"),
    "huge_values": (
        edit_json(METRICS_FILE, lambda m: {**m, "interval_levels": ["x" * 100_000]}),
        "interval_levels",
    ),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_a_broken_run_is_refused_in_one_short_line_naming_the_file(
    runs_dir: Path, breakage: str
) -> None:
    breaker, needle = BREAKAGES[breakage]
    breaker(make_run(runs_dir, RUN_A))
    with pytest.raises(RefusedError) as caught:
        load(runs_dir)
    message = str(caught.value)
    assert needle in message
    assert "\n" not in message and len(message) <= 400
    assert str(runs_dir) in message


def test_a_run_folder_symlinked_from_outside_is_refused(runs_dir: Path, tmp_path: Path) -> None:
    outside = make_run(tmp_path / "elsewhere", RUN_A)
    (runs_dir / RUN_A).symlink_to(outside)
    publish_latest(runs_dir, RUN_A)
    with pytest.raises(RefusedError, match="no such run folder"):
        load(runs_dir)


def test_texts_from_the_run_are_bounded_in_bodies(runs_dir: Path) -> None:
    rows = build_rows()
    rows[-1]["reason"] = "r\x00" + "x" * 100_000
    make_run(runs_dir, RUN_A, rows=rows)
    body = json.loads(load(runs_dir).forecast_body(12))
    assert body["reason"].startswith("r?x") and len(body["reason"]) <= 500
