"""Builders of fake run folders that follow docs/contracts.md, for tests and benchmarks.

``make_run(runs_dir, run_id)`` writes ``run.json``, ``metrics.json`` and
``predictions.json`` (what the API reads; ``predictions.parquet`` too with
``parquet=True``, which needs pandas) and, unless told otherwise, points
``runs/LATEST`` at the new run. Rows are plain dicts as in predictions.json: in-sample
months, then backtest months, then a forecast path of ``horizons`` months whose
intervals widen with the horizon. Standard library only unless ``parquet=True``.
"""

from __future__ import annotations

import json
import math
import os
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.layout import (
    FAN_CHART_FILE,
    FIGURES_DIR,
    METRICS_FILE,
    MONTH,
    PREDICTIONS_FILE,
    PREDICTIONS_JSON,
    PUBLICATIONS_FILE,
    REPORT_FILE,
    RUN_ID_FORMAT,
    TRACK_RECORD_CHART_FILE,
    UNIT,
    run_dir_for,
)
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    BACKTEST,
    FORECAST,
    FORECAST_HORIZON,
    HORIZON,
    IN_SAMPLE,
    KIND,
    LOWER,
    MODEL,
    PREDICTED,
    UPPER,
    interval_column,
)
from milk_forecast.run_folder.predictions import REASON as REASON_KEY
from milk_forecast.run_folder.publication import PUBLICATION_KEYS
from milk_forecast.run_folder.record import FAILED, RUNNING, SUCCEEDED
from milk_forecast.run_folder.write import (
    ordered_bounds,
    staged_latest,
    write_run_record,
)

MODEL_NAME = "ridge_lags"
FORECAST_MODEL = "seasonal_drift"
REASON_TEXT = "lowest walk-forward RMSE at this horizon"
LEVELS = (0.8, 0.95)
HALF_WIDTH = {0.5: 3.0, 0.8: 8.0, 0.9: 10.0, 0.95: 12.0}  # at horizon 1, CLP/L


def month_range(first: str, count: int) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def months_between(first: str, last: str) -> int:
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:]) - int(first[5:]) + 1


def build_rows(
    first: str = "2015-01",
    backtest_from: str = "2018-05",
    last_observed: str = "2020-04",
    horizons: int = FORECAST_HORIZON,
    levels: Sequence[float] = LEVELS,
    model: str = MODEL_NAME,
) -> list[dict[str, Any]]:
    """predictions.json rows: in_sample, then backtest, then ``horizons`` forecast months.

    Prices carry 3 decimals, so that a response rounded to 2 differs from the file.
    """
    observed = months_between(first, last_observed)
    rows = []
    for step, month in enumerate(month_range(first, observed + horizons)):
        predicted = 250.123 + 1.5 * step
        horizon = step - observed + 1 if step >= observed else None
        kind = FORECAST if horizon else BACKTEST if month >= backtest_from else IN_SAMPLE
        row: dict[str, Any] = {
            MONTH: month,
            ACTUAL: None if horizon else predicted + (2.0 if step % 2 == 0 else -3.0),
            PREDICTED: predicted,
            KIND: kind,
            MODEL: FORECAST_MODEL if horizon else model,
            HORIZON: horizon,
            REASON_KEY: REASON_TEXT if horizon else None,
        }
        for level in levels:
            width = HALF_WIDTH.get(level, 10.0) * math.sqrt(horizon or 1)
            inside = kind != IN_SAMPLE
            row[interval_column(LOWER, level)] = predicted - width if inside else None
            row[interval_column(UPPER, level)] = predicted + width if inside else None
        rows.append(row)
    return rows


def predictions_document(rows: list[dict[str, Any]], levels: Sequence[float]) -> dict[str, Any]:
    """The predictions.json payload."""
    return {"unit": UNIT, "interval_levels": list(levels), "rows": rows}


def _rows_of(predictions: Any) -> list[dict[str, Any]]:
    """Rows from a list of dicts, or from a predictions.parquet-like DataFrame."""
    if isinstance(predictions, list):
        return predictions
    rows = []
    for record in predictions.to_dict("records"):
        month = record[MONTH]
        rows.append({**record, MONTH: f"{month:%Y-%m}"})
    return rows


def build_metrics(
    predictions: Any, model: str = MODEL_NAME, levels: Sequence[float] | None = None
) -> dict[str, Any]:
    """A metrics.json payload consistent with ``predictions`` (rows, or a DataFrame)."""
    rows = _rows_of(predictions)
    if levels is None:
        levels = [level for level in LEVELS if interval_column("lower", level) in rows[-1]]
    scores = {"rmse_clp_per_l": 2.6, "mae_clp_per_l": 2.5, "mape_pct": 0.9, "r2": 0.97}
    bounds = ordered_bounds(levels)
    path = [row for row in rows if row[KIND] == FORECAST] or rows[-1:]
    forecast_path = [
        {
            "month": row[MONTH],
            "horizon": row.get(HORIZON),
            "model": row[MODEL],
            "reason": row.get(REASON_KEY) or REASON_TEXT,
            **{key: float(row[key]) for key in bounds},
        }
        for row in path
    ]
    return {
        "unit": UNIT,
        "interval_levels": list(levels),
        "headline": {"model": model, "evaluation": "walk_forward", **scores},
        "evaluations": {
            "walk_forward": {
                "description": "one-step-ahead refits",
                "months": [r[MONTH] for r in rows if r[KIND] == "backtest"],
                "models": {model: {**scores, "mse_clp2_per_l2": 6.76}},
            }
        },
        "forecast": forecast_path[0],
        "forecast_path": forecast_path,
    }


def build_record(run_id: str, status: str, metrics: dict[str, Any], synthetic: bool) -> dict:
    """A run.json payload; started/finished times derive from the run id."""
    started = datetime.strptime(run_id[:16], RUN_ID_FORMAT)
    succeeded = status == SUCCEEDED
    return {
        "run_id": run_id,
        "status": status,
        "started_at": f"{started:%Y-%m-%dT%H:%M:%SZ}",
        "finished_at": f"{started + timedelta(seconds=42):%Y-%m-%dT%H:%M:%SZ}"
        if status != RUNNING
        else None,
        "pid": 1,
        "host": socket.gethostname(),
        "data_dir": "/nonexistent/data",
        "synthetic_sample": synthetic,
        "parameters": {},
        "inputs": {},
        "fingerprint": "0" * 64,
        "stages": [],
        "versions": {"python": "3.11"},
        "headline": metrics["headline"] if succeeded else None,
        "forecast": metrics["forecast"] if succeeded else None,
        "error": None,
    }


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    """predictions.parquet of ``rows`` (months as timestamps), as the pipeline writes it."""
    import pandas as pd

    frame = pd.DataFrame(rows)
    frame[MONTH] = pd.to_datetime(frame[MONTH]).astype("datetime64[ns]")
    frame[HORIZON] = frame[HORIZON].astype("Int64")
    frame.to_parquet(path, index=False)


def make_run(
    runs_dir: Path,
    run_id: str = "20261127T120301Z",
    *,
    status: str = SUCCEEDED,
    rows: list[dict[str, Any]] | None = None,
    levels: Sequence[float] = LEVELS,
    synthetic: bool = True,
    publish: bool = True,
    parquet: bool = False,
) -> Path:
    """Write a complete fake run folder; publish it as LATEST when ``publish``."""
    run_dir = run_dir_for(runs_dir, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    rows = build_rows(levels=levels) if rows is None else rows
    metrics = build_metrics(rows, levels=levels)
    document = predictions_document(rows, levels)
    (run_dir / PREDICTIONS_JSON).write_text(json.dumps(document), encoding="utf-8")
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    if parquet:
        write_parquet(rows, run_dir / PREDICTIONS_FILE)
    write_run_record(run_dir, build_record(run_id, status, metrics, synthetic))
    if publish:
        publish_latest(runs_dir, run_id)
    return run_dir


def make_history(runs_dir: Path, count: int, first: datetime | None = None) -> list[str]:
    """``count`` run folders holding only a run.json (succeeded and failed), not published."""
    start = first or datetime(2020, 1, 1)
    rows = build_rows(horizons=1)
    metrics = build_metrics(rows)
    run_ids = []
    for number in range(count):
        run_id = f"{start + timedelta(hours=number):{RUN_ID_FORMAT}}"
        status = FAILED if number % 5 == 4 else SUCCEEDED
        run_dir = runs_dir / run_id
        run_dir.mkdir(parents=True, exist_ok=True)
        write_run_record(run_dir, build_record(run_id, status, metrics, False))
        run_ids.append(run_id)
    return run_ids


CHART_SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="200">'
    b'<rect width="400" height="200" fill="#1f5fa8"/></svg>'
)
REPORT_HTML = (
    b"<!DOCTYPE html><html><body><h1>report</h1><table><tr><td>1</td></tr></table></body></html>"
)


def add_page_files(run_dir: Path, charts: bool = True, report: bool = True) -> Path:
    """The charts 04_train draws (figures/*.svg) and the runner's report.html, small fakes."""
    if charts:
        figures = run_dir / FIGURES_DIR
        figures.mkdir(exist_ok=True)
        for name in (FAN_CHART_FILE, TRACK_RECORD_CHART_FILE):
            (figures / name).write_bytes(CHART_SVG)
    if report:
        (run_dir / REPORT_FILE).write_bytes(REPORT_HTML)
    return run_dir


def write_publications(runs_dir: Path, entries: Sequence[tuple[str, str, str]]) -> Path:
    """runs/publications.jsonl holding (run_id, published_at, by) lines, oldest first."""
    path = runs_dir / PUBLICATIONS_FILE
    lines = [dict(zip(PUBLICATION_KEYS, entry, strict=True)) for entry in entries]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


UNSERVABLE = ("missing", "fifo", "directory", "symlink_out")


def make_unservable(path: Path, kind: str, outside: Path) -> None:
    """Replace the file at ``path`` by something the guard refuses: one of ``UNSERVABLE``
    (``symlink_out``: a symlink to a copy of it at ``outside``, beyond the runs folder)."""
    data = path.read_bytes()
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "directory":
        path.mkdir()
    elif kind == "symlink_out":
        outside.write_bytes(data)
        path.symlink_to(outside)


def publish_latest(runs_dir: Path, run_id: str) -> None:
    """Point LATEST at ``run_id`` (no log line), as the runner's writer does."""
    with staged_latest(runs_dir, run_id) as commit:
        commit()


def log_publication(runs_dir: Path, entry: dict[str, str]) -> None:
    """Append ``entry`` to the publication log, as a line of its writer."""
    with (Path(runs_dir) / PUBLICATIONS_FILE).open("a", encoding="utf-8") as log:
        log.write(json.dumps(entry) + "\n")
