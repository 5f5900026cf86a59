"""``metrics.json``: how the run's models did, its forecast path and how its intervals held.

Keys: ``unit``, ``interval_levels``, ``headline`` (the one-month model's walk-forward
figures), ``evaluations`` (per evaluation: description, months, figures per model),
``forecast`` (the first month of the path), ``forecast_path`` (12 months), ``calibration``
(coverage per horizon and level), ``track_record`` and ``drift`` (how the published
forecasts did). docs/contracts.md shows the shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.files import excerpt, is_number, read_json_object
from milk_forecast.run_folder.layout import MONTH, RunFolderError
from milk_forecast.run_folder.predictions import (
    FORECAST_HORIZON,
    HORIZON,
    MODEL,
    REASON,
    check_levels,
    is_month_text,
    level_label,
    next_month,
    ordered_bounds,
)

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


def _number(path: Path, row: Mapping[str, Any], key: str, where: str) -> float:
    value = row.get(key)
    if not is_number(value):
        raise RunFolderError(f"{path}: {where}{key} is {excerpt(value)}, not a finite number")
    return float(value)


def _check_bounds(path: Path, row: Any, levels: list[float], where: str) -> None:
    """``row`` holds the prediction and every level's bounds, finite and ordered."""
    if not isinstance(row, dict):
        raise RunFolderError(f"{path}: {where} must be an object")
    values = [_number(path, row, key, f"{where}.") for key in ordered_bounds(levels)]
    if values != sorted(values):
        raise RunFolderError(f"{path}: {where} bounds are not ordered: {values}")


def _check_path(path: Path, rows: Any, levels: list[float]) -> None:
    """1 to 12 rows of consecutive months, horizons 1.., ordered bounds, a model, a reason."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= FORECAST_HORIZON:
        raise RunFolderError(f"{path}: {FORECAST_PATH} must hold 1 to {FORECAST_HORIZON} rows")
    expected = None
    for index, row in enumerate(rows, start=1):
        where = f"{FORECAST_PATH}[{index - 1}]"
        if not isinstance(row, dict) or not is_month_text(row.get(MONTH)):
            raise RunFolderError(f"{path}: {where} needs a month YYYY-MM")
        if expected is not None and row[MONTH] != expected:
            raise RunFolderError(f"{path}: {where} is {row[MONTH]}, expected {expected}")
        if row.get(HORIZON) != index or isinstance(row.get(HORIZON), bool):
            raise RunFolderError(
                f"{path}: {where}.horizon is {excerpt(row.get(HORIZON))}, expected {index}"
            )
        if not isinstance(row.get(MODEL), str) or not isinstance(row.get(REASON), str):
            raise RunFolderError(f"{path}: {where} needs a model and a reason (texts)")
        _check_bounds(path, row, levels, where)
        expected = next_month(row[MONTH])


def _check_calibration(path: Path, block: Any, levels: list[float]) -> None:
    """A ``YYYY-MM..YYYY-MM`` window, a method, and per horizon and level a coverage in
    [0, 1], a mean width >= 0 and a number of months >= 1."""
    if not isinstance(block, dict) or not isinstance(block.get("horizons"), dict):
        raise RunFolderError(f"{path}: {CALIBRATION} must be an object with 'horizons'")
    window = block.get("window")
    if not isinstance(window, str) or not all(map(is_month_text, window.split(".."))):
        raise RunFolderError(
            f"{path}: {CALIBRATION}.window is {excerpt(window)}, not YYYY-MM..YYYY-MM"
        )
    if not isinstance(block.get("method"), str):
        raise RunFolderError(f"{path}: {CALIBRATION}.method must be a text")
    for horizon, by_level in block["horizons"].items():
        where = f"{CALIBRATION}.horizons.{horizon}"
        if not horizon.isdigit() or not isinstance(by_level, dict):
            raise RunFolderError(f"{path}: {where}: expected a horizon in months and an object")
        for label in map(level_label, levels):
            entry = by_level.get(label)
            if not isinstance(entry, dict):
                raise RunFolderError(f"{path}: {where} lacks level {label!r}")
            coverage = _number(path, entry, COVERAGE, f"{where}.{label}.")
            width = _number(path, entry, MEAN_WIDTH, f"{where}.{label}.")
            months = entry.get(CALIBRATION_MONTHS)
            if not 0 <= coverage <= 1 or width < 0 or not isinstance(months, int) or months < 1:
                raise RunFolderError(
                    f"{path}: {where}.{label}: coverage {coverage}, width {width}, months "
                    f"{excerpt(months)}: expected a coverage in [0, 1], a width >= 0, months >= 1"
                )


def read_metrics(path: Path, root: Path | None = None) -> dict[str, Any]:
    """``metrics.json``: its keys, finite headline figures, a forecast with ordered bounds;
    ``forecast_path`` and ``calibration`` checked when present."""
    metrics = read_json_object(path, MAX_METRICS_BYTES, root)
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing:
        raise RunFolderError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    if not isinstance(metrics["headline"], dict):
        raise RunFolderError(f"{path}: 'headline' must be an object")
    for key in HEADLINE_METRICS:
        _number(path, metrics["headline"], key, "headline.")
    levels = check_levels(path, metrics["interval_levels"])
    _check_bounds(path, metrics["forecast"], levels, "forecast")
    if FORECAST_PATH in metrics:
        _check_path(path, metrics[FORECAST_PATH], levels)
    if CALIBRATION in metrics:
        _check_calibration(path, metrics[CALIBRATION], levels)
    return metrics
