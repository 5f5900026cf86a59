"""``metrics.json``: how the run's models did, its forecast path, how its intervals held
and how the published forecasts did (docs/contracts.md shows the shape)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from milk_forecast.run_folder.files import excerpt, is_number, read_json_object
from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.run_folder.predictions import check_levels

RMSE, MAE, MAPE, R2 = "rmse_clp_per_l", "mae_clp_per_l", "mape_pct", "r2"
MSE = "mse_clp2_per_l2"
HEADLINE_METRICS = (RMSE, MAE, MAPE, R2)
WALK_FORWARD = "walk_forward"  # one month ahead: the headline
EVALUATED_HORIZONS = (1, 3, 6, 12)  # each has a walk-forward evaluation
CALIBRATED_HORIZONS = (1, 3, 6)  # each has a calibration entry
SHUFFLED = "shuffled_split"
FORECAST_PATH = "forecast_path"
CALIBRATION = "calibration"
COVERAGE, MEAN_WIDTH, CALIBRATION_MONTHS = "coverage", "mean_width_clp_per_l", "months"
TRACK_RECORD = "track_record"
DRIFT = "drift"
DRIFT_OK, DRIFT_WARNING, DRIFT_UNKNOWN = "ok", "warning", "not_enough_history"
METRICS_KEYS = ("unit", "headline", "evaluations", "forecast", "interval_levels")
MAX_METRICS_BYTES = 2 * 1024 * 1024  # a real metrics.json: about 30 kB


def walk_forward_key(horizon: int) -> str:
    """``walk_forward`` for one month ahead, ``walk_forward_h3`` for three months ahead."""
    return WALK_FORWARD if horizon == 1 else f"{WALK_FORWARD}_h{horizon}"


def read_metrics(path: Path, root: Path | None = None) -> dict[str, Any]:
    """``metrics.json``: its keys, finite headline figures, valid interval levels (its writer
    also checks the parts no reader relies on)."""
    metrics = read_json_object(path, MAX_METRICS_BYTES, root)
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing:
        raise RunFolderError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    if not isinstance(metrics["headline"], dict):
        raise RunFolderError(f"{path}: 'headline' must be an object")
    for key in HEADLINE_METRICS:
        if not is_number(metrics["headline"].get(key)):
            value = excerpt(metrics["headline"].get(key))
            raise RunFolderError(f"{path}: headline.{key} is {value}, not a finite number")
    check_levels(path, metrics["interval_levels"])
    return metrics
