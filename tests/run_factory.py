"""Builders of fake run folders that follow docs/contracts.md, for tests and benchmarks.

``make_run(runs_dir, run_id)`` writes ``run.json``, ``metrics.json``,
``predictions.parquet`` and ``model.joblib`` (a fitted ``DummyRegressor``) and,
unless told otherwise, points ``runs/LATEST`` at the new run.
"""

from __future__ import annotations

import json
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
from sklearn.dummy import DummyRegressor

from milk_forecast import contracts
from milk_forecast.runner import run_folder

INTERVAL_COLUMNS = (
    "lower_80_clp_per_l",
    "upper_80_clp_per_l",
    "lower_95_clp_per_l",
    "upper_95_clp_per_l",
)
MODEL_NAME = "ridge_lags"


def build_predictions(
    first: str = "2015-01",
    backtest_from: str = "2018-05",
    forecast: str = "2020-05",
    intervals: bool = True,
    model: str = MODEL_NAME,
) -> pd.DataFrame:
    """One row per month: in_sample, then backtest, then one forecast month (no actual)."""
    months = pd.date_range(first, forecast, freq="MS").as_unit("ns")
    step = np.arange(len(months), dtype=float)
    predicted = 250.0 + 1.5 * step
    frame = pd.DataFrame(
        {
            "month": months,
            "actual_clp_per_l": predicted + np.where(step % 2 == 0, 2.0, -3.0),
            "predicted_clp_per_l": predicted,
            "kind": np.where(months < pd.Timestamp(backtest_from), "in_sample", "backtest"),
            "model": model,
        }
    )
    frame.loc[frame.index[-1], "kind"] = "forecast"
    frame.loc[frame.index[-1], "actual_clp_per_l"] = np.nan
    if intervals:
        has_interval = frame["kind"] != "in_sample"
        for level, half_width in (("80", 8.0), ("95", 12.0)):
            frame[f"lower_{level}_clp_per_l"] = np.where(
                has_interval, predicted - half_width, np.nan
            )
            frame[f"upper_{level}_clp_per_l"] = np.where(
                has_interval, predicted + half_width, np.nan
            )
    return frame


def build_metrics(predictions: pd.DataFrame, model: str = MODEL_NAME) -> dict[str, Any]:
    """A metrics.json payload consistent with ``predictions``."""
    scores = {"rmse_clp_per_l": 2.6, "mae_clp_per_l": 2.5, "mape_pct": 0.9, "r2": 0.97}
    backtest = predictions[predictions["kind"] == "backtest"]
    last = predictions.iloc[-1]
    forecast: dict[str, Any] = {
        "month": f"{last['month']:%Y-%m}",
        "predicted_clp_per_l": float(last["predicted_clp_per_l"]),
        "model": model,
        "reason": "lowest walk-forward RMSE",
    }
    for column in INTERVAL_COLUMNS:
        if column in predictions:
            forecast[column] = float(last[column])
    return {
        "unit": "CLP/L",
        "interval_levels": [
            level for level in (0.8, 0.95) if f"lower_{level * 100:g}_clp_per_l" in predictions
        ],
        "headline": {"model": model, "evaluation": "walk_forward", **scores},
        "evaluations": {
            "walk_forward": {
                "description": "one-step-ahead refits",
                "months": [f"{m:%Y-%m}" for m in backtest["month"]],
                "models": {model: {**scores, "mse_clp2_per_l2": 6.76}},
            }
        },
        "forecast": forecast,
        "interval_coverage": {"80": 0.8, "95": 0.95},
    }


def build_record(run_id: str, status: str, metrics: dict[str, Any], synthetic: bool) -> dict:
    """A run.json payload; started/finished times derive from the run id."""
    started = datetime.strptime(run_id[:16], contracts.RUN_ID_FORMAT)
    succeeded = status == contracts.SUCCEEDED
    return {
        "run_id": run_id,
        "status": status,
        "started_at": f"{started:%Y-%m-%dT%H:%M:%SZ}",
        "finished_at": f"{started + timedelta(seconds=42):%Y-%m-%dT%H:%M:%SZ}"
        if status != contracts.RUNNING
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


def make_run(
    runs_dir: Path,
    run_id: str = "20261127T120301Z",
    *,
    status: str = contracts.SUCCEEDED,
    predictions: pd.DataFrame | None = None,
    synthetic: bool = True,
    publish: bool = True,
    model: bool = True,
) -> Path:
    """Write a complete fake run folder; publish it as LATEST when ``publish``."""
    run_dir = run_folder.run_dir_for(runs_dir, run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    frame = build_predictions() if predictions is None else predictions
    metrics = build_metrics(frame)
    frame.to_parquet(run_dir / contracts.PREDICTIONS_FILE, index=False)
    (run_dir / contracts.METRICS_FILE).write_text(json.dumps(metrics, indent=2), encoding="utf-8")
    if model:
        fitted = DummyRegressor().fit(np.zeros((3, 1)), frame["predicted_clp_per_l"].iloc[:3])
        joblib.dump(fitted, run_dir / contracts.MODEL_FILE)
    run_folder.write_run_record(run_dir, build_record(run_id, status, metrics, synthetic))
    if publish:
        run_folder.publish_latest(runs_dir, run_id)
    return run_dir
