"""What the train stage writes and shows: ``metrics.json``, ``predictions.parquet`` and
``predictions.json`` (same rows, what the API loads), and the tables 04_train displays."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from milk_forecast.data.checks import (
    StageOutputError,
    check_columns,
    check_parquet,
    check_written,
)
from milk_forecast.model import metrics as mt
from milk_forecast.model.candidates import BASELINES
from milk_forecast.model.track_record import TrackRecord, track_record_columns
from milk_forecast.run_folder.layout import (
    CHART_FILES,
    FIGURES_DIR,
    METRICS_FILE,
    MONTH,
    PREDICTIONS_FILE,
    PREDICTIONS_JSON,
    TRACK_RECORD_FILE,
    UNIT,
)
from milk_forecast.run_folder.metrics import (
    CALIBRATION,
    CALIBRATION_MONTHS,
    COVERAGE,
    DRIFT,
    EVALUATED_HORIZONS,
    FORECAST_PATH,
    MEAN_WIDTH,
    MSE,
    RMSE,
    TRACK_RECORD,
    WALK_FORWARD,
    walk_forward_key,
)
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    FORECAST,
    FORECAST_HORIZON,
    HORIZON,
    KIND,
    LOWER,
    MODEL,
    PREDICTED,
    PREDICTION_COLUMNS,
    PREDICTION_KINDS,
    REASON,
    UPPER,
    interval_column,
    level_label,
)
from milk_forecast.run_folder.servable import read_products
from milk_forecast.run_folder.write import write_metrics, write_predictions_json


def read_predictions(path: Path) -> pd.DataFrame:
    """``predictions.parquet``, checked: monthly, sorted, contiguous, predicted, known kinds."""
    frame = check_parquet(path, required=PREDICTION_COLUMNS[1:], no_nan=(PREDICTED, KIND, MODEL))
    unknown = sorted(set(frame[KIND].astype(str)) - set(PREDICTION_KINDS))
    if unknown:
        raise StageOutputError(
            f"{path}: column 'kind' holds {unknown[0]!r}, expected one of {PREDICTION_KINDS}"
        )
    return frame


def calibration_block(
    rows: pd.DataFrame, origins: pd.DatetimeIndex, levels: Sequence[float], method: str
) -> dict[str, Any]:
    """``metrics.json``'s ``calibration``: the window of origins, the method and, per horizon
    and level, the coverage, the mean width (CLP/L) and the number of months."""
    horizons: dict[str, Any] = {}
    for h, part in rows.groupby(HORIZON, sort=True):
        horizons[str(h)] = {}
        for level in levels:
            lower, upper = part[interval_column(LOWER, level)], part[interval_column(UPPER, level)]
            horizons[str(h)][level_label(level)] = {
                COVERAGE: mt.coverage(part[ACTUAL], lower, upper),
                MEAN_WIDTH: float((upper - lower).mean()),
                CALIBRATION_MONTHS: len(part),
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
    headline = {
        k: v for k, v in evaluations[WALK_FORWARD]["models"][headline_model].items() if k != MSE
    }
    bounds = [interval_column(side, level) for level in levels for side in (LOWER, UPPER)]
    shown = [MONTH, HORIZON, PREDICTED, *bounds, MODEL, REASON]
    forecast_path = [{key: json_value(row[key]) for key in shown} for _, row in path.iterrows()]
    return {
        "unit": UNIT,
        "interval_levels": list(levels),
        "headline": {"model": headline_model, "evaluation": WALK_FORWARD, **headline},
        "evaluations": evaluations,
        "forecast": {key: value for key, value in forecast_path[0].items() if key != HORIZON},
        FORECAST_PATH: forecast_path,
        CALIBRATION: calibration,
    }


def build_predictions(
    fitted: pd.DataFrame, backtest: pd.DataFrame, path: pd.DataFrame, price: pd.Series
) -> pd.DataFrame:
    """One row per month: in-sample fit, the backtest months replacing it, then the path."""
    fitted = fitted[~fitted[MONTH].isin(backtest[MONTH])]
    frame = pd.concat([fitted, backtest, path], ignore_index=True).sort_values(
        MONTH, ignore_index=True
    )
    frame[ACTUAL] = price.reindex(frame[MONTH]).to_numpy()
    frame[MONTH] = frame[MONTH].astype("datetime64[ns]")
    frame[HORIZON] = frame[HORIZON].astype("Int64")
    frame[REASON] = frame[REASON].astype("object").where(frame[REASON].notna(), None)
    first = [*PREDICTION_COLUMNS, HORIZON, REASON]
    return frame[first + [c for c in frame.columns if c not in first]]


def json_value(value: Any) -> Any:
    """A cell as JSON: NaN/NA as null, numpy scalars as Python numbers, months as YYYY-MM."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m}"
    return value.item() if hasattr(value, "item") else value


def write_outputs(
    metrics: dict[str, Any],
    predictions: pd.DataFrame,
    run_dir: Path | str,
    track: TrackRecord,
) -> list[Path]:
    """Write ``metrics.json``, ``predictions.parquet``, ``predictions.json`` and
    ``track_record.parquet`` (its summary and the drift check go into metrics.json)."""
    run_dir = Path(run_dir)
    metrics = {**metrics, **track.metrics()}
    track.rows.to_parquet(run_dir / TRACK_RECORD_FILE, index=False)
    write_metrics(run_dir / METRICS_FILE, metrics)
    predictions.to_parquet(run_dir / PREDICTIONS_FILE, index=False)
    rows = [
        {column: json_value(value) for column, value in row.items()}
        for row in predictions.astype("object").to_dict("records")
    ]
    write_predictions_json(run_dir / PREDICTIONS_JSON, metrics["interval_levels"], rows)
    names = (METRICS_FILE, PREDICTIONS_FILE, PREDICTIONS_JSON, TRACK_RECORD_FILE)
    return [run_dir / name for name in names]


def horizon_table(metrics: dict[str, Any], ours: Sequence[str]) -> pd.DataFrame:
    """RMSE (CLP/L) by horizon: the model serving it (the first of ``ours`` evaluated at
    that horizon) and the three baselines."""
    rows = {}
    for h in EVALUATED_HORIZONS:
        evaluation = metrics["evaluations"].get(walk_forward_key(h))
        if evaluation is None:
            continue
        models = evaluation["models"]
        served = next(name for name in ours if name in models)
        rows[h] = {"served by": served, "ours": models[served][RMSE]}
        rows[h] |= {b.name: models[b.name][RMSE] for b in BASELINES if b.name in models}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis(HORIZON)


def coverage_table(metrics: dict[str, Any]) -> pd.DataFrame:
    """Coverage and mean width by horizon (rows) and level (columns) over the calibration window."""
    horizons = metrics[CALIBRATION]["horizons"]
    frame = pd.DataFrame(
        {
            (label, what): {int(h): by_level[label][key] for h, by_level in horizons.items()}
            for label in next(iter(horizons.values()))
            for what, key in (("coverage", COVERAGE), ("mean width CLP/L", MEAN_WIDTH))
        }
    )
    return frame.rename_axis(HORIZON)


def check_outputs(run_dir: Path | str) -> str:
    """Read back what ``write_outputs`` wrote, through the contract readers, and check the
    path is there: FORECAST_HORIZON forecast rows, horizons 1.., the same rows as JSON and
    ``forecast_path`` in the metrics. Returns a one-line summary; raises naming the file."""
    run_dir = Path(run_dir)
    predictions = read_predictions(run_dir / PREDICTIONS_FILE)
    metrics, document = read_products(run_dir)
    horizons = predictions.loc[predictions[KIND] == FORECAST, HORIZON].tolist()
    if horizons != list(range(1, FORECAST_HORIZON + 1)):
        raise StageOutputError(f"{run_dir / PREDICTIONS_FILE}: forecast horizons are {horizons}")
    if len(document["rows"]) != len(predictions):
        raise StageOutputError(
            f"{run_dir / PREDICTIONS_JSON}: {len(document['rows'])} rows, "
            f"{PREDICTIONS_FILE} has {len(predictions)}"
        )
    missing = [
        key for key in (FORECAST_PATH, CALIBRATION, TRACK_RECORD, DRIFT) if key not in metrics
    ]
    if missing:
        raise StageOutputError(f"{run_dir / METRICS_FILE}: missing {missing}")
    record = pd.read_parquet(check_written(run_dir / TRACK_RECORD_FILE))
    check_columns(
        record, run_dir / TRACK_RECORD_FILE, track_record_columns(metrics["interval_levels"])
    )
    return (
        f"{PREDICTIONS_FILE} and {PREDICTIONS_JSON}: {len(predictions)} months, "
        f"{len(horizons)} forecast months; {METRICS_FILE}: walk-forward RMSE "
        f"{metrics['headline'][RMSE]:.2f} CLP/L; {TRACK_RECORD_FILE} present"
    )


def check_figures(run_dir: Path | str) -> str:
    """The charts the page shows were drawn; returns a one-line summary."""
    for name in CHART_FILES:
        check_written(Path(run_dir) / FIGURES_DIR / name)
    return f"{FIGURES_DIR}/: {', '.join(CHART_FILES)} present"
