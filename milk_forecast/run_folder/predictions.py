"""``predictions.json``: one row per month, what the service serves (the same rows as
``predictions.parquet``); ``read_predictions_json`` says what each row holds."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.files import excerpt, is_number, read_json_object
from milk_forecast.run_folder.layout import MONTH, UNIT, RunFolderError

ACTUAL, PREDICTED = "actual_clp_per_l", "predicted_clp_per_l"
KIND, MODEL, HORIZON, REASON = "kind", "model", "horizon", "reason"
IN_SAMPLE, BACKTEST, FORECAST = "in_sample", "backtest", "forecast"
PREDICTION_KINDS = (IN_SAMPLE, BACKTEST, FORECAST)
PREDICTION_COLUMNS = (MONTH, ACTUAL, PREDICTED, KIND, MODEL)
FORECAST_HORIZON = 12  # forecast rows: the months after the last observed price
LOWER, UPPER = "lower", "upper"
MAX_PREDICTIONS_BYTES = 4 * 1024 * 1024  # a real predictions.json: about 100 kB
_MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")


def level_label(level: float) -> str:
    """An interval level as a percent: ``0.8`` -> ``"80"``, ``0.975`` -> ``"97.5"``."""
    return f"{level * 100:.10g}"


def interval_column(side: str, level: float) -> str:
    """``lower_80_clp_per_l``: the name of an interval bound (``side``: LOWER or UPPER)."""
    return f"{side}_{level_label(level)}_clp_per_l"


def is_month_text(value: Any) -> bool:
    return isinstance(value, str) and bool(_MONTH_RE.fullmatch(value))


def next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def check_levels(path: Path, levels: Any) -> list[float]:
    if not isinstance(levels, list) or not all(is_number(v) and 0 < v < 1 for v in levels):
        raise RunFolderError(f"{path}: interval_levels is {excerpt(levels)}, not levels in (0, 1)")
    return levels


def _row_problem(row: Any, levels: list[float], expected: str | None) -> str | None:
    """What is wrong with a row, or None: ``month`` (``YYYY-MM``, ``expected``), ``kind``,
    ``model``, ``predicted_clp_per_l`` (positive), ``actual_clp_per_l`` (or null), ``horizon``
    (1..12 on forecast rows, else null), ``reason`` (or null), per level both bounds around
    the prediction or both null."""
    if not isinstance(row, dict):
        return f"expected an object, found {type(row).__name__}"
    month = row.get(MONTH)
    if not is_month_text(month):
        return f"month is {excerpt(month)}, not YYYY-MM"
    if expected is not None and month != expected:
        return f"month {month} follows a row of the month before {expected}: not sorted or a gap"
    if row.get(KIND) not in PREDICTION_KINDS:
        return f"kind is {excerpt(row.get(KIND))}, expected one of {PREDICTION_KINDS}"
    if not isinstance(row.get(MODEL), str):
        return f"model is {excerpt(row.get(MODEL))}, not a text"
    if not is_number(row.get(PREDICTED)) or row[PREDICTED] <= 0:
        return f"{PREDICTED} is {excerpt(row.get(PREDICTED))}, not a positive number"
    if row.get(ACTUAL) is not None and not is_number(row[ACTUAL]):
        return f"{ACTUAL} is {excerpt(row[ACTUAL])}, not a number or null"
    horizon = row.get(HORIZON)
    if row[KIND] == FORECAST:
        if not isinstance(horizon, int) or isinstance(horizon, bool):
            return f"a forecast row needs an integer horizon, found {excerpt(horizon)}"
        if not 1 <= horizon <= FORECAST_HORIZON:
            return f"horizon {horizon} is outside 1..{FORECAST_HORIZON}"
    elif horizon is not None:
        return f"horizon is {excerpt(horizon)} on a {row[KIND]} row, null expected"
    if row.get(REASON) is not None and not isinstance(row[REASON], str):
        return f"reason is {excerpt(row[REASON])}, not a text or null"
    for level in levels:
        lower, upper = (row.get(interval_column(side, level)) for side in (LOWER, UPPER))
        if lower is None and upper is None:
            continue
        if not (is_number(lower) and is_number(upper) and lower <= row[PREDICTED] <= upper):
            return f"{level_label(level)}% interval {excerpt(lower)}..{excerpt(upper)} does not hold {row[PREDICTED]}"
    return None


def read_predictions_json(path: Path, root: Path | None = None) -> dict[str, Any]:
    """``{"unit": "CLP/L", "interval_levels", "rows"}``, every row checked (``_row_problem``),
    months sorted without a gap, forecast horizons 1, 2, ... in order; the first problem
    names the file and the row."""
    document = read_json_object(path, MAX_PREDICTIONS_BYTES, root)
    if document.get("unit") != UNIT:
        raise RunFolderError(f"{path}: unit is {excerpt(document.get('unit'))}, not {UNIT}")
    levels = check_levels(path, document.get("interval_levels"))
    rows = document.get("rows")
    if not isinstance(rows, list) or not rows:
        raise RunFolderError(f"{path}: 'rows' must be a non-empty list")
    expected = None
    for index, row in enumerate(rows):
        problem = _row_problem(row, levels, expected)
        if problem:
            raise RunFolderError(f"{path}: row {index}: {problem}")
        expected = next_month(row[MONTH])
    horizons = [row[HORIZON] for row in rows if row[KIND] == FORECAST]
    if horizons != list(range(1, len(horizons) + 1)):
        raise RunFolderError(
            f"{path}: forecast horizons are {excerpt(horizons)}, expected 1, 2, ... in order"
        )
    return document
