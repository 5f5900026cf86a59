"""Every name that crosses a module or process boundary, defined once.

The raw input files and their columns, the monthly columns, the artefact files of a
run folder, the columns of ``predictions.parquet``, the keys of ``run.json`` and
``metrics.json``, the run-id pattern, the unit and the CLI's exit codes live here,
and ``docs/contracts.md`` mirrors this module. Next to the names are the readers of
the JSON artefacts (``run.json``, ``metrics.json``, ``inputs.json``) and of
``predictions.parquet``: one reader-and-validator per artefact, used by the
notebooks' checks, the runner and the API alike.

Standard library only at import time (the API imports this module and stays small);
the parquet reader imports pandas when it is called.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

# --- raw inputs (the files a data folder holds) ----------------------------------------

PRICE_FILE = "precio_leche.csv"
RAIN_FILE = "precipitaciones.csv"
BANK_FILE = "banco_central.csv"
# A data folder holding this file is a synthetic sample.
SYNTHETIC_MARKER = "SYNTHETIC"

MONTH_NAMES = ("Ene", "Feb", "Mar", "Abr", "May", "Jun", "Jul", "Ago", "Sep", "Oct", "Nov", "Dic")
PRICE_COLUMNS = ("Anio", "Mes", "Precio_leche")
RAIN_DATE = "date"
RAIN_REGIONS = (
    "Coquimbo",
    "Valparaiso",
    "Metropolitana_de_Santiago",
    "Libertador_Gral__Bernardo_O_Higgins",
    "Maule",
    "Biobio",
    "La_Araucania",
    "Los_Rios",
)
BANK_PERIOD = "Periodo"
IMACEC_COLUMNS = (
    "Imacec_empalmado",
    "Imacec_produccion_de_bienes",
    "Imacec_minero",
    "Imacec_industria",
    "Imacec_resto_de_bienes",
    "Imacec_comercio",
    "Imacec_servicios",
    "Imacec_a_costo_de_factores",
    "Imacec_no_minero",
)
PIB_COLUMNS = (
    "PIB_Agropecuario_silvicola",
    "PIB_Pesca",
    "PIB_Mineria",
    "PIB_Mineria_del_cobre",
    "PIB_Otras_actividades_mineras",
    "PIB_Industria_Manufacturera",
    "PIB_Alimentos",
    "PIB_Bebidas_y_tabaco",
    "PIB_Textil",
    "PIB_Maderas_y_muebles",
    "PIB_Celulosa",
    "PIB_Refinacion_de_petroleo",
    "PIB_Quimica",
    "PIB_Minerales_no_metalicos_y_metalica_basica",
    "PIB_Productos_metalicos",
    "PIB_Electricidad",
    "PIB_Construccion",
    "PIB_Comercio",
    "PIB_Restaurantes_y_hoteles",
    "PIB_Transporte",
    "PIB_Comunicaciones",
    "PIB_Servicios_financieros",
    "PIB_Servicios_empresariales",
    "PIB_Servicios_de_vivienda",
    "PIB_Servicios_personales",
    "PIB_Administracion_publica",
    "PIB_a_costo_de_factores",
    "PIB",
)
IVCM_COLUMN = "Indice_de_ventas_comercio_real_no_durables_IVCM"
# The 38 central bank series the project reads, in the order of the real header.
BANK_SERIES = (*IMACEC_COLUMNS, *PIB_COLUMNS, IVCM_COLUMN)
# File name -> the columns it must have.
RAW_FILES: dict[str, tuple[str, ...]] = {
    PRICE_FILE: PRICE_COLUMNS,
    RAIN_FILE: (RAIN_DATE, *RAIN_REGIONS),
    BANK_FILE: (BANK_PERIOD, *BANK_SERIES),
}

# --- the monthly tables (clean_monthly.parquet, features_monthly.parquet) ---------------

MONTH = "month"  # datetime64[ns], first day of the month, naive
PRICE_COLUMN = "milk_price_clp_per_l"
UNIT = "CLP/L"


def rain_column(region: str) -> str:
    """``"Libertador_Gral__Bernardo_O_Higgins"`` -> ``"rain_libertador_gral_bernardo_o_higgins_mm"``."""
    return f"rain_{re.sub('_+', '_', region.lower())}_mm"


RAIN_COLUMNS = [rain_column(region) for region in RAIN_REGIONS]
# The central bank series in lower case, in the file's order.
BANK_COLUMNS = [name.lower() for name in BANK_SERIES]
SERIES_COLUMNS = [PRICE_COLUMN, *RAIN_COLUMNS, *BANK_COLUMNS]
# features_monthly.parquet: the prototype's shuffled comparison split.
SPLIT = "split"
TRAIN, TEST = "train", "test"

# --- artefacts of a run folder ---------------------------------------------------------

RUN_JSON = "run.json"
LATEST = "LATEST"
NOTEBOOKS_DIR = "notebooks"
INPUTS_FILE = "inputs.json"
CLEAN_FILE = "clean_monthly.parquet"
DROPPED_FILE = "dropped_rows.parquet"
RESCALED_FILE = "rescaled_cells.parquet"
FEATURES_FILE = "features_monthly.parquet"
MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
# The same rows as predictions.parquet, as JSON: what the API loads (standard library only).
PREDICTIONS_JSON = "predictions.json"
# How the published forecasts turned out (04_train): one row per scored forecast.
TRACK_RECORD_FILE = "track_record.parquet"
# Charts 04_train draws for the API's page (SVG).
FIGURES_DIR = "figures"
FAN_CHART_FILE = "forecast_fan.svg"
TRACK_RECORD_CHART_FILE = "track_record.svg"
REPORT_FILE = "report.html"
KERNEL_LOG = "kernels.log"
LOCK_FILE = ".pipeline.lock"
# In the runs folder: one JSON line per publication (a run becoming the served one).
PUBLICATIONS_FILE = "publications.jsonl"
PUBLICATION_KEYS = ("run_id", "published_at", "by")
PUBLISHED_BY_PIPELINE, PUBLISHED_BY_OPERATOR = "pipeline", "publish"


def raw_parquet_name(file_name: str) -> str:
    """``precio_leche.csv`` -> ``raw_precio_leche.parquet``."""
    return f"raw_{Path(file_name).stem}.parquet"


# dropped_rows.parquet
DROPPED_COLUMNS = ["file", "row", "value", "reason"]
# rescaled_cells.parquet: the PIB_* cells that lost trailing zeros, one row each: file,
# CSV line, month, source column, the value as written, the power of ten applied, the result.
RESCALED_COLUMNS = ["file", "row", "month", "column", "value", "factor", "rescaled"]
# inputs.json: file name -> these keys
INPUT_KEYS = ("path", "sha256", "bytes", "rows")

# --- predictions.parquet -----------------------------------------------------------------

ACTUAL = "actual_clp_per_l"
PREDICTED = "predicted_clp_per_l"
KIND = "kind"
MODEL = "model"
# Forecast rows: months after the last observed price (1..FORECAST_HORIZON); null elsewhere.
HORIZON = "horizon"
# Forecast rows: why that model made it (rainfall held, fallback...); null elsewhere.
REASON = "reason"
FORECAST_HORIZON = 12
IN_SAMPLE, BACKTEST, FORECAST = "in_sample", "backtest", "forecast"
PREDICTION_KINDS = (IN_SAMPLE, BACKTEST, FORECAST)
PREDICTION_COLUMNS = (MONTH, ACTUAL, PREDICTED, KIND, MODEL)
LOWER, UPPER = "lower", "upper"


def level_label(level: float) -> str:
    """An interval level as the percent used in names: ``0.8`` -> ``"80"``, ``0.975`` -> ``"97.5"``."""
    return f"{level * 100:.10g}"


def interval_column(side: str, level: float) -> str:
    """``lower_80_clp_per_l`` style name of an interval bound (``side``: LOWER or UPPER)."""
    return f"{side}_{level_label(level)}_clp_per_l"


# --- metrics.json ----------------------------------------------------------------------------

RMSE = "rmse_clp_per_l"
MAE = "mae_clp_per_l"
MAPE = "mape_pct"
R2 = "r2"
MSE = "mse_clp2_per_l2"
HEADLINE_METRICS = (RMSE, MAE, MAPE, R2)
WALK_FORWARD = "walk_forward"  # one month ahead: the headline


def walk_forward_key(horizon: int) -> str:
    """``walk_forward`` for one month ahead, ``walk_forward_h3`` for three months ahead."""
    return WALK_FORWARD if horizon == 1 else f"{WALK_FORWARD}_h{horizon}"


# Horizons with a walk-forward evaluation (``walk_forward_key``) and with a calibration entry.
EVALUATED_HORIZONS = (1, 3, 6, 12)
CALIBRATED_HORIZONS = (1, 3, 6)
SHUFFLED = "shuffled_split"
# The FORECAST_HORIZON rows of the path: month, horizon, prediction, bounds, model, reason.
FORECAST_PATH = "forecast_path"
# metrics.json: the track record's summary per horizon, and the drift check.
TRACK_RECORD = "track_record"
DRIFT = "drift"
DRIFT_OK, DRIFT_WARNING, DRIFT_UNKNOWN = "ok", "warning", "not_enough_history"
# {"window": "YYYY-MM..YYYY-MM", "method": "...", "horizons": {"<h>": {"<L>": {...}}}}
CALIBRATION = "calibration"
COVERAGE = "coverage"
MEAN_WIDTH = "mean_width_clp_per_l"
CALIBRATION_MONTHS = "months"
METRICS_KEYS = ("unit", "headline", "evaluations", "forecast", "interval_levels")

# --- run.json ------------------------------------------------------------------------------

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
# Not stored: what a "running" run whose process is gone is reported as.
INCOMPLETE = "incomplete"
RUN_STATUSES = (RUNNING, SUCCEEDED, FAILED)
RUN_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z(-[0-9]{2})?$"
RUN_ID_RE = re.compile(RUN_ID_PATTERN)
RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"
RUN_ID_EXAMPLE = "20261127T120301Z"
# Whether the run replaced LATEST when it succeeded (false: see the reason), and why not.
PUBLISHED = "published"
NOT_PUBLISHED_REASON = "not_published_reason"
SYNTHETIC_KEY = "synthetic_sample"
# Set by the runner for every run; a user cannot override them with -p.
RUNNER_PARAMETERS = ("run_dir", "data_dir")

# Where a run's data came from (run.json's ``synthetic_sample``), as code and in words.
SYNTHETIC_SOURCE, REAL_SOURCE, UNKNOWN_SOURCE = "synthetic_sample", "real", "unknown"
DATA_LABELS = {
    SYNTHETIC_SOURCE: "SYNTHETIC SAMPLE (generated, not real prices)",
    REAL_SOURCE: "real data",
    UNKNOWN_SOURCE: "data of unknown origin",
}


def data_source(synthetic: object) -> str:
    """``synthetic_sample``, ``real`` or ``unknown`` from run.json's ``synthetic_sample`` flag."""
    if not isinstance(synthetic, bool):
        return UNKNOWN_SOURCE
    return SYNTHETIC_SOURCE if synthetic else REAL_SOURCE


def data_label(synthetic: object) -> str:
    """The data a run used, in words, e.g. ``SYNTHETIC SAMPLE (generated, not real prices)``."""
    return DATA_LABELS[data_source(synthetic)]


# --- exit codes of run_pipeline.py (and of every entry point that runs the pipeline) ---

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
# The run succeeded but was deliberately not published (run.json says why).
EXIT_NOT_PUBLISHED = 4


# --- readers and validators --------------------------------------------------------------


class ContractError(ValueError):
    """An artefact that breaks its contract; the message names the file and what is wrong."""


class StageOutputError(ContractError):
    """A stage wrote a product that is missing, empty, unsorted, incomplete or inconsistent."""


class RunFolderError(ContractError):
    """A run folder, ``run.json`` or ``LATEST`` that breaks the contract."""


def is_valid_run_id(run_id: str) -> bool:
    return bool(RUN_ID_RE.fullmatch(run_id))


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_written(path: Path, error: type[ContractError] = StageOutputError) -> Path:
    """``path`` is a file with content, else ``error`` saying it was not written."""
    path = Path(path)
    try:
        written = path.is_file() and path.stat().st_size > 0
    except OSError:
        written = False
    if not written:
        raise error(f"{path}: was not written")
    return path


# Largest JSON artefact any reader accepts: far above a real run's (about 100 kB).
MAX_JSON_BYTES = 8 * 1024 * 1024


class NotARegularFileError(OSError):
    """A path that, once open, turned out not to be a regular file (a FIFO, a device...)."""


def read_regular(path: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of ``path`` (one more than allowed shows it is too big).

    Opened without blocking and checked once open, so a file swapped for a FIFO after any
    earlier check raises NotARegularFileError instead of hanging the reader.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARegularFileError(f"{path}: is not a regular file")
        chunks, remaining = [], max_bytes + 1
        while remaining > 0 and (chunk := os.read(fd, min(remaining, 1 << 20))):
            chunks.append(chunk)
            remaining -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_json_object(
    path: Path, error: type[ContractError] = StageOutputError, max_bytes: int = MAX_JSON_BYTES
) -> dict[str, Any]:
    """A JSON file holding an object; anything else raises ``error`` naming the file.

    Reads at most ``max_bytes`` (a larger file is refused, never read whole).
    """
    try:
        data = read_regular(check_written(path, error), max_bytes)
        if len(data) > max_bytes:
            raise error(f"{path}: larger than {max_bytes} bytes, refused")
        payload = json.loads(data.decode("utf-8"))
    except ContractError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise error(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
    if not isinstance(payload, dict):
        raise error(f"{path}: expected a JSON object, found {type(payload).__name__}")
    return payload


# run.json keys -> the JSON types each may hold (a key may be absent: older runs).
_TEXT, _OBJECT, _NONE = (str,), (dict,), (type(None),)
RUN_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "run_id": _TEXT,
    "started_at": _TEXT + _NONE,
    "finished_at": _TEXT + _NONE,
    "pid": (int, *_NONE),
    "host": _TEXT + _NONE,
    "data_dir": _TEXT,
    SYNTHETIC_KEY: (bool, *_NONE),
    "parameters": _OBJECT,
    "inputs": _OBJECT,
    "fingerprint": _TEXT,
    "stages": (list,),
    "versions": _OBJECT,
    "headline": _OBJECT + _NONE,
    "forecast": _OBJECT + _NONE,
    "error": _OBJECT + _NONE,
    PUBLISHED: (bool, *_NONE),
    NOT_PUBLISHED_REASON: _TEXT + _NONE,
}
# Process ids above this cannot exist (Linux's pid_max is at most 2**22).
MAX_PID = 2**22


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """``run.json`` of ``run_dir``: an object with a known ``status`` and well-typed keys."""
    path = Path(run_dir) / RUN_JSON
    record = read_json_object(path, RunFolderError)
    if record.get("status") not in RUN_STATUSES:
        raise RunFolderError(
            f"{path}: 'status' is {excerpt(record.get('status'))}, expected one of {RUN_STATUSES}"
        )
    problem = _run_record_problem(record)
    if problem:
        raise RunFolderError(f"{path}: {problem}")
    return record


def _run_record_problem(record: Mapping[str, Any]) -> str | None:
    """The first key of ``run.json`` holding the wrong type (or an impossible pid), or None."""
    for key, types in RUN_RECORD_TYPES.items():
        value = record.get(key)
        if key in record and not _has_type(value, types):
            return (
                f"{key!r} is {excerpt(value)}, expected {' or '.join(_json_type(t) for t in types)}"
            )
    pid = record.get("pid")
    if pid is not None and not 0 < pid <= MAX_PID:
        return f"'pid' is {excerpt(pid)}, not a process id"
    stages = record.get("stages") or []
    if not all(isinstance(stage, dict) for stage in stages):
        return "'stages' holds an entry that is not an object"
    return None


def _has_type(value: Any, types: tuple[type, ...]) -> bool:
    """``isinstance``, except that true/false is not an integer."""
    return bool in types if isinstance(value, bool) else isinstance(value, types)


def _json_type(kind: type) -> str:
    names = {
        str: "a text",
        dict: "an object",
        list: "a list",
        bool: "true/false",
        int: "an integer",
    }
    return names.get(kind, "null")


def excerpt(value: Any, limit: int = 60) -> str:
    """``repr(value)`` cut to ``limit`` characters, for messages quoting untrusted content."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def read_inputs(path: Path, expected: Mapping[str, int] | None = None) -> dict[str, Any]:
    """``inputs.json``: per raw file its path, sha256, bytes and rows (``expected``: name -> rows)."""
    inputs = read_json_object(path)
    for name, entry in inputs.items():
        missing = [key for key in INPUT_KEYS if not isinstance(entry, dict) or key not in entry]
        if missing:
            raise StageOutputError(f"{path}: {name!r} lacks key(s) {missing}")
    if expected is not None:
        if sorted(inputs) != sorted(expected):
            raise StageOutputError(
                f"{path}: describes {sorted(inputs)}, expected {sorted(expected)}"
            )
        for name, rows in expected.items():
            if inputs[name]["rows"] != rows:
                raise StageOutputError(
                    f"{path}: {name!r} has rows {inputs[name]['rows']}, the table has {rows}"
                )
    return inputs


def _number_at(path: Path, payload: Mapping[str, Any], key: str, where: str) -> float:
    value = payload.get(key)
    if not is_number(value):
        raise StageOutputError(f"{path}: {where}{key} is {value!r}, not a finite number")
    return float(value)


def read_metrics(path: Path) -> dict[str, Any]:
    """``metrics.json``: top-level keys, finite headline figures, a forecast with ordered
    bounds; ``forecast_path`` and ``calibration``, when present, checked too."""
    path = Path(path)
    metrics = read_json_object(path)
    missing = [key for key in METRICS_KEYS if key not in metrics]
    if missing:
        raise StageOutputError(f"{path}: missing key(s) {', '.join(map(repr, missing))}")
    headline, forecast = metrics["headline"], metrics["forecast"]
    if not isinstance(headline, dict) or not isinstance(forecast, dict):
        raise StageOutputError(f"{path}: 'headline' and 'forecast' must be objects")
    for key in HEADLINE_METRICS:
        _number_at(path, headline, key, "headline.")
    levels = metrics["interval_levels"]
    if not isinstance(levels, list) or not all(is_number(v) and 0 < v < 1 for v in levels):
        raise StageOutputError(f"{path}: interval_levels is {levels!r}, not levels in (0, 1)")
    _check_bounds(path, forecast, levels, "forecast")
    if FORECAST_PATH in metrics:
        _check_forecast_path(path, metrics[FORECAST_PATH], levels)
    if CALIBRATION in metrics:
        _check_calibration(path, metrics[CALIBRATION], levels)
    return metrics


def _check_bounds(path: Path, row: Mapping[str, Any], levels: list[float], where: str) -> None:
    """``row`` holds the prediction and every level's bounds, finite and ordered."""
    values = [_number_at(path, row, key, f"{where}.") for key in ordered_bounds(levels)]
    if values != sorted(values):
        raise StageOutputError(f"{path}: {where} bounds are not ordered: {values}")


def _check_forecast_path(path: Path, rows: Any, levels: list[float]) -> None:
    """``forecast_path``: 1 to FORECAST_HORIZON rows (the pipeline writes all of them, see
    ``outputs.check_outputs``), consecutive months, horizons 1.., bounds ordered, a model
    and a reason."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= FORECAST_HORIZON:
        found = len(rows) if isinstance(rows, list) else type(rows).__name__
        raise StageOutputError(
            f"{path}: {FORECAST_PATH} must hold 1 to {FORECAST_HORIZON} rows, found {found}"
        )
    expected = None
    for index, row in enumerate(rows, start=1):
        where = f"{FORECAST_PATH}[{index - 1}]"
        if not isinstance(row, dict) or not _month_text(row.get(MONTH)):
            raise StageOutputError(f"{path}: {where} needs a month YYYY-MM")
        if expected is not None and row[MONTH] != expected:
            raise StageOutputError(f"{path}: {where} is {row[MONTH]}, expected {expected}")
        if row.get(HORIZON) != index or isinstance(row.get(HORIZON), bool):
            raise StageOutputError(
                f"{path}: {where}.horizon is {row.get(HORIZON)!r}, expected {index}"
            )
        if not isinstance(row.get(MODEL), str) or not isinstance(row.get(REASON), str):
            raise StageOutputError(f"{path}: {where} needs a model and a reason (texts)")
        _check_bounds(path, row, levels, where)
        expected = _next_month(row[MONTH])


def _check_calibration(path: Path, block: Any, levels: list[float]) -> None:
    """``calibration``: window, method, and per horizon and level a coverage in [0, 1], a
    mean width >= 0 and a number of months >= 1."""
    if not isinstance(block, dict) or not isinstance(block.get("horizons"), dict):
        raise StageOutputError(f"{path}: {CALIBRATION} must be an object with 'horizons'")
    window = block.get("window")
    if not isinstance(window, str) or not all(map(_month_text, window.split(".."))):
        raise StageOutputError(f"{path}: {CALIBRATION}.window is {window!r}, not YYYY-MM..YYYY-MM")
    if not isinstance(block.get("method"), str):
        raise StageOutputError(f"{path}: {CALIBRATION}.method must be a text")
    for horizon, by_level in block["horizons"].items():
        where = f"{CALIBRATION}.horizons.{horizon}"
        if not horizon.isdigit() or not isinstance(by_level, dict):
            raise StageOutputError(f"{path}: {where}: expected a horizon in months and an object")
        for label in map(level_label, levels):
            entry = by_level.get(label)
            if not isinstance(entry, dict):
                raise StageOutputError(f"{path}: {where} lacks level {label!r}")
            coverage = _number_at(path, entry, COVERAGE, f"{where}.{label}.")
            width = _number_at(path, entry, MEAN_WIDTH, f"{where}.{label}.")
            months = entry.get(CALIBRATION_MONTHS)
            if not 0 <= coverage <= 1 or width < 0 or not isinstance(months, int) or months < 1:
                raise StageOutputError(
                    f"{path}: {where}.{label}: coverage {coverage}, width {width}, months "
                    f"{months!r}: expected a coverage in [0, 1], a width >= 0, months >= 1"
                )


def ordered_bounds(levels: Iterable[float]) -> list[str]:
    """Interval columns and the prediction, from the widest lower bound to the widest upper."""
    ascending = sorted(levels)
    return [
        *(interval_column(LOWER, level) for level in reversed(ascending)),
        PREDICTED,
        *(interval_column(UPPER, level) for level in ascending),
    ]


def read_predictions(path: Path) -> pd.DataFrame:
    """``predictions.parquet``, checked: monthly, sorted, contiguous, predicted, known kinds."""
    from milk_forecast.checks import check_parquet

    frame = check_parquet(path, required=PREDICTION_COLUMNS[1:], no_nan=(PREDICTED, KIND, MODEL))
    unknown = sorted(set(frame[KIND].astype(str)) - set(PREDICTION_KINDS))
    if unknown:
        raise StageOutputError(
            f"{path}: column 'kind' holds {unknown[0]!r}, expected one of {PREDICTION_KINDS}"
        )
    return frame


def _month_text(value: Any) -> bool:
    return isinstance(value, str) and bool(re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", value))


def _next_month(month: str) -> str:
    year, number = int(month[:4]), int(month[5:])
    return f"{year + number // 12:04d}-{number % 12 + 1:02d}"


def read_predictions_json(path: Path) -> dict[str, Any]:
    """``predictions.json``: ``{"unit", "interval_levels", "rows"}``, every row checked.

    Rows: ``month`` (``YYYY-MM``, sorted, one per month, no gap), ``kind``, ``model``,
    ``predicted_clp_per_l`` (finite), ``actual_clp_per_l`` (finite or null), ``horizon``
    (1..FORECAST_HORIZON on forecast rows, null elsewhere), ``reason`` (text or null),
    and for each level the interval bounds (both finite, around the prediction, or both
    null). The first problem found raises ``StageOutputError`` naming the file and the row.
    """
    document = read_json_object(path)
    levels = document.get("interval_levels")
    rows = document.get("rows")
    if not isinstance(levels, list) or not all(is_number(v) and 0 < v < 1 for v in levels):
        raise StageOutputError(f"{path}: interval_levels is {levels!r}, not levels in (0, 1)")
    if not isinstance(rows, list) or not rows:
        raise StageOutputError(f"{path}: 'rows' must be a non-empty list")
    expected = None
    for index, row in enumerate(rows):
        problem = _row_problem(row, levels, expected)
        if problem:
            raise StageOutputError(f"{path}: row {index}: {problem}")
        expected = _next_month(row[MONTH])
    return document


def _row_problem(row: Any, levels: list[float], expected: str | None) -> str | None:
    """What is wrong with one row of predictions.json, or None."""
    if not isinstance(row, dict):
        return f"expected an object, found {type(row).__name__}"
    month = row.get(MONTH)
    if not _month_text(month):
        return f"month is {month!r}, not YYYY-MM"
    if expected is not None and month != expected:
        return f"month {month} follows a row of the month before {expected}: not sorted or a gap"
    if row.get(KIND) not in PREDICTION_KINDS:
        return f"kind is {row.get(KIND)!r}, expected one of {PREDICTION_KINDS}"
    if not isinstance(row.get(MODEL), str):
        return f"model is {row.get(MODEL)!r}, not a text"
    if not is_number(row.get(PREDICTED)) or row[PREDICTED] <= 0:
        return f"{PREDICTED} is {row.get(PREDICTED)!r}, not a positive number"
    if row.get(ACTUAL) is not None and not is_number(row[ACTUAL]):
        return f"{ACTUAL} is {row[ACTUAL]!r}, not a number or null"
    horizon = row.get(HORIZON)
    if row[KIND] == FORECAST:
        if not (isinstance(horizon, int) and not isinstance(horizon, bool)):
            return f"a forecast row needs an integer horizon, found {horizon!r}"
        if not 1 <= horizon <= FORECAST_HORIZON:
            return f"horizon {horizon} is outside 1..{FORECAST_HORIZON}"
    elif horizon is not None:
        return f"horizon is {horizon!r} on a {row[KIND]} row, null expected"
    if row.get(REASON) is not None and not isinstance(row[REASON], str):
        return f"reason is {row[REASON]!r}, not a text or null"
    for level in levels:
        lower, upper = (
            row.get(interval_column(LOWER, level)),
            row.get(interval_column(UPPER, level)),
        )
        if lower is None and upper is None:
            continue
        if not (is_number(lower) and is_number(upper) and lower <= row[PREDICTED] <= upper):
            return f"{level_label(level)}% interval {lower!r}..{upper!r} does not hold {row[PREDICTED]}"
    return None


def read_publications(
    runs_dir: Path, max_bytes: int = MAX_JSON_BYTES
) -> tuple[list[dict[str, Any]], list[str]]:
    """The publication log of ``runs_dir``, oldest first, and a note per line it skipped.

    A missing log is an empty one. A line that is not a JSON object with a valid
    ``run_id``, a ``published_at`` text and a ``by`` text is skipped and noted (a crash
    mid-append leaves at most a torn last line). Reads at most ``max_bytes``.
    """
    path = Path(runs_dir) / PUBLICATIONS_FILE
    try:
        data = read_regular(path, max_bytes)
    except FileNotFoundError:
        return [], []
    except OSError as exc:
        return [], [f"{path}: unreadable ({exc.strerror or exc})"]
    notes = (
        [f"{path}: larger than {max_bytes} bytes, only the start is read"]
        if len(data) > max_bytes
        else []
    )
    entries = []
    for number, line in enumerate(data[:max_bytes].decode("utf-8", "replace").splitlines(), 1):
        try:
            entry = json.loads(line)
        except (ValueError, RecursionError):
            entry = None
        valid = (
            isinstance(entry, dict)
            and isinstance(entry.get("run_id"), str)
            and is_valid_run_id(entry["run_id"])
            and isinstance(entry.get("published_at"), str)
            and isinstance(entry.get("by"), str)
        )
        if valid:
            entries.append({key: entry[key] for key in PUBLICATION_KEYS})
        elif line.strip():
            notes.append(f"{path} line {number}: not a publication record, skipped")
    return entries, notes


def check_predictions_agree(
    path: Path, document: Mapping[str, Any], metrics: Mapping[str, Any]
) -> None:
    """``predictions.json`` (already read) agrees with ``metrics.json``: the unit, the same
    interval levels, forecast horizons 1, 2, ... in order. Raises naming ``path``."""
    if document.get("unit") != UNIT:
        raise StageOutputError(f"{path}: unit is {excerpt(str(document.get('unit')))}, not {UNIT}")
    if document["interval_levels"] != metrics["interval_levels"]:
        raise StageOutputError(
            f"{path}: interval_levels {excerpt(str(document['interval_levels']))} differ from "
            f"metrics.json's {excerpt(str(metrics['interval_levels']))}"
        )
    horizons = [row[HORIZON] for row in document["rows"] if row[KIND] == FORECAST]
    if horizons != list(range(1, len(horizons) + 1)):
        raise StageOutputError(
            f"{path}: forecast horizons are {excerpt(str(horizons))}, expected 1, 2, ... in order"
        )
