"""What the train stage writes and shows: ``metrics.json``, ``predictions.parquet`` and
``predictions.json`` (same rows, what the API loads), and the tables 04_train displays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from milk_forecast.data import checks
from milk_forecast.model import metrics as mt
from milk_forecast.model.candidates import BASELINES
from milk_forecast.model.track_record import TrackRecord, track_record_columns
from milk_forecast.run_folder import layout
from milk_forecast.run_folder import metrics as m
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.servable import read_products
from milk_forecast.run_folder.write import write_metrics, write_predictions_json


def read_predictions(path: Path) -> pd.DataFrame:
    """``predictions.parquet``, checked: monthly, sorted, contiguous, predicted, known kinds."""
    frame = checks.check_parquet(
        path, required=p.PREDICTION_COLUMNS[1:], no_nan=(p.PREDICTED, p.KIND, p.MODEL)
    )
    unknown = sorted(set(frame[p.KIND].astype(str)) - set(p.PREDICTION_KINDS))
    if unknown:
        raise checks.StageOutputError(
            f"{path}: column 'kind' holds {unknown[0]!r}, expected one of {p.PREDICTION_KINDS}"
        )
    return frame


def calibration_block(
    rows: pd.DataFrame, origins: pd.DatetimeIndex, levels: Sequence[float], method: str
) -> dict[str, Any]:
    """``metrics.json``'s ``calibration``: the window of origins, the method and, per horizon
    and level, the coverage, the mean width (CLP/L) and the number of months."""
    horizons: dict[str, Any] = {}
    for h, part in rows.groupby(p.HORIZON, sort=True):
        horizons[str(h)] = {}
        for level in levels:
            lower, upper = (part[p.interval_column(side, level)] for side in (p.LOWER, p.UPPER))
            horizons[str(h)][p.level_label(level)] = {
                m.COVERAGE: mt.coverage(part[p.ACTUAL], lower, upper),
                m.MEAN_WIDTH: float((upper - lower).mean()),
                m.CALIBRATION_MONTHS: len(part),
            }
    window = f"{origins[0]:%Y-%m}..{origins[-1]:%Y-%m}"
    return {"window": window, "method": method, "horizons": horizons}


def build_metrics(
    evaluations: dict[str, Any],
    headline_model: str,
    path: pd.DataFrame,
    calibration: dict[str, Any],
    levels: Sequence[float],
) -> dict[str, Any]:
    """The ``metrics.json`` payload (contracts.md)."""
    scores = evaluations[m.WALK_FORWARD]["models"][headline_model]
    headline = {key: value for key, value in scores.items() if key != m.MSE}
    bounds = [p.interval_column(side, level) for level in levels for side in (p.LOWER, p.UPPER)]
    shown = [layout.MONTH, p.HORIZON, p.PREDICTED, *bounds, p.MODEL, p.REASON]
    forecast_path = [{key: json_value(row[key]) for key in shown} for _, row in path.iterrows()]
    return {
        "unit": layout.UNIT,
        "interval_levels": list(levels),
        "headline": {"model": headline_model, "evaluation": m.WALK_FORWARD, **headline},
        "evaluations": evaluations,
        "forecast": {key: value for key, value in forecast_path[0].items() if key != p.HORIZON},
        m.FORECAST_PATH: forecast_path,
        m.CALIBRATION: calibration,
    }


def build_predictions(
    fitted: pd.DataFrame, backtest: pd.DataFrame, path: pd.DataFrame, price: pd.Series
) -> pd.DataFrame:
    """One row per month: in-sample fit, the backtest months replacing it, then the path."""
    fitted = fitted[~fitted[layout.MONTH].isin(backtest[layout.MONTH])]
    frame = pd.concat([fitted, backtest, path], ignore_index=True).sort_values(
        layout.MONTH, ignore_index=True
    )
    frame[p.ACTUAL] = price.reindex(frame[layout.MONTH]).to_numpy()
    frame[layout.MONTH] = frame[layout.MONTH].astype("datetime64[ns]")
    frame[p.HORIZON] = frame[p.HORIZON].astype("Int64")
    frame[p.REASON] = frame[p.REASON].astype("object").where(frame[p.REASON].notna(), None)
    first = [*p.PREDICTION_COLUMNS, p.HORIZON, p.REASON]
    return frame[first + [c for c in frame.columns if c not in first]]


def json_value(value: Any) -> Any:
    """A cell as JSON: NaN/NA as null, numpy scalars as Python numbers, months as YYYY-MM."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m}"
    return value.item() if hasattr(value, "item") else value


def write_outputs(
    metrics: dict[str, Any], predictions: pd.DataFrame, run_dir: Path, track: TrackRecord
) -> list[Path]:
    """Write ``metrics.json``, ``predictions.parquet``, ``predictions.json`` and
    ``track_record.parquet`` (its summary and the drift check go into metrics.json)."""
    metrics = {**metrics, **track.metrics()}
    metrics_path, track_path = run_dir / layout.METRICS_FILE, run_dir / layout.TRACK_RECORD_FILE
    parquet_path, json_path = run_dir / layout.PREDICTIONS_FILE, run_dir / layout.PREDICTIONS_JSON
    track.rows.to_parquet(track_path, index=False)
    write_metrics(metrics_path, metrics)
    predictions.to_parquet(parquet_path, index=False)
    rows = [
        {column: json_value(value) for column, value in row.items()}
        for row in predictions.astype("object").to_dict("records")
    ]
    write_predictions_json(json_path, metrics["interval_levels"], rows)
    return [metrics_path, parquet_path, json_path, track_path]


def horizon_table(metrics: dict[str, Any], ours: Sequence[str]) -> pd.DataFrame:
    """RMSE (CLP/L) by horizon: the model serving it (the first of ``ours`` evaluated at
    that horizon) and the three baselines."""
    rows = {}
    for h in m.EVALUATED_HORIZONS:
        evaluation = metrics["evaluations"].get(m.walk_forward_key(h))
        if evaluation is None:
            continue
        models = evaluation["models"]
        served = next(name for name in ours if name in models)
        rows[h] = {"served by": served, "ours": models[served][m.RMSE]}
        rows[h] |= {b.name: models[b.name][m.RMSE] for b in BASELINES if b.name in models}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(p.HORIZON)


def coverage_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Coverage and mean width by horizon (rows) and level (columns) over the calibration window."""
    horizons = metrics[m.CALIBRATION]["horizons"]
    frame = pd.DataFrame(
        {
            (label, what): {int(h): by_level[label][key] for h, by_level in horizons.items()}
            for label in next(iter(horizons.values()))
            for what, key in (("coverage", m.COVERAGE), ("mean width CLP/L", m.MEAN_WIDTH))
        }
    )
    return frame.rename_axis(p.HORIZON)


def check_outputs(run_dir: Path) -> str:
    """Read back what ``write_outputs`` wrote, through the contract readers, and check the
    path is there: FORECAST_HORIZON forecast rows, horizons 1.., the same rows as JSON and
    ``forecast_path`` in the metrics. Returns a one-line summary; raises naming the file."""
    predictions = read_predictions(run_dir / layout.PREDICTIONS_FILE)
    metrics, document = read_products(run_dir)
    horizons = predictions.loc[predictions[p.KIND] == p.FORECAST, p.HORIZON].tolist()
    if horizons != list(range(1, p.FORECAST_HORIZON + 1)):
        raise checks.StageOutputError(
            f"{run_dir / layout.PREDICTIONS_FILE}: forecast horizons are {horizons}"
        )
    if len(document["rows"]) != len(predictions):
        raise checks.StageOutputError(
            f"{run_dir / layout.PREDICTIONS_JSON}: {len(document['rows'])} rows, "
            f"{layout.PREDICTIONS_FILE} has {len(predictions)}"
        )
    added = (m.FORECAST_PATH, m.CALIBRATION, m.TRACK_RECORD, m.DRIFT)  # beyond read_metrics'
    missing = [key for key in added if key not in metrics]
    if missing:
        raise checks.StageOutputError(f"{run_dir / layout.METRICS_FILE}: missing {missing}")
    track_path = run_dir / layout.TRACK_RECORD_FILE
    record = pd.read_parquet(checks.check_written(track_path))
    checks.check_columns(record, track_path, track_record_columns(metrics["interval_levels"]))
    return (
        f"{layout.PREDICTIONS_FILE} and {layout.PREDICTIONS_JSON}: {len(predictions)} months, "
        f"{len(horizons)} forecast months; {layout.METRICS_FILE}: walk-forward RMSE "
        f"{metrics['headline'][m.RMSE]:.2f} CLP/L; {layout.TRACK_RECORD_FILE} present"
    )


def check_figures(run_dir: Path) -> str:
    """The charts the page shows were drawn; returns a one-line summary."""
    for name in layout.CHART_FILES:
        checks.check_written(run_dir / layout.FIGURES_DIR / name)
    return f"{layout.FIGURES_DIR}/: {', '.join(layout.CHART_FILES)} present"
