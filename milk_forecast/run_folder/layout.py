"""Where things live: the runs folder, a run folder ``<runs>/<run_id>/``, its files, run ids.
Every monthly artefact keys its rows by ``month``; prices are in ``UNIT``."""

from __future__ import annotations

import re
from pathlib import Path


class RunFolderError(ValueError):
    """A runs folder, run folder or artefact that breaks its format; the message names the file."""


MONTH = "month"
UNIT = "CLP/L"

# The runs folder.
LATEST = "LATEST"
PUBLICATIONS_FILE = "publications.jsonl"
LOCK_FILE = ".pipeline.lock"

# One run folder, in the order the stages write it.
RUN_JSON = "run.json"
NOTEBOOKS_DIR = "notebooks"
KERNEL_LOG = "kernels.log"
INPUTS_FILE = "inputs.json"  # 01_extract
CLEAN_FILE = "clean_monthly.parquet"  # 02_clean
DROPPED_FILE = "dropped_rows.parquet"
RESCALED_FILE = "rescaled_cells.parquet"
SERIES_FILE = "price_rain_monthly.parquet"  # 03_preprocess: what 04_train learns from
FEATURES_FILE = "features_monthly.parquet"  # the prototype's table, for the comparison
METRICS_FILE = "metrics.json"  # 04_train
PREDICTIONS_FILE = "predictions.parquet"
PREDICTIONS_JSON = "predictions.json"  # the same rows: what the service loads
TRACK_RECORD_FILE = "track_record.parquet"
FIGURES_DIR = "figures"
FAN_CHART_FILE = "forecast_fan.svg"
TRACK_RECORD_CHART_FILE = "track_record.svg"
FAN_CHART_PHONE_FILE = "forecast_fan_phone.svg"  # the last 12 months and the path, narrow
CHART_FILES = (FAN_CHART_FILE, TRACK_RECORD_CHART_FILE, FAN_CHART_PHONE_FILE)
REPORT_FILE = "report.html"  # the runner, at the end
# What a succeeded run's run.json records the sha256 of (``outputs``): what it made.
OUTPUT_FILES = (METRICS_FILE, PREDICTIONS_JSON, PREDICTIONS_FILE, TRACK_RECORD_FILE)
OUTPUT_FILES += tuple(f"{FIGURES_DIR}/{name}" for name in CHART_FILES)


def raw_parquet_name(file_name: str) -> str:
    """``precio_leche.csv`` -> ``raw_precio_leche.parquet`` (01_extract)."""
    return f"raw_{Path(file_name).stem}.parquet"


RUN_ID_PATTERN = r"^[0-9]{8}T[0-9]{6}Z(-[0-9]{2})?$"
RUN_ID_RE = re.compile(RUN_ID_PATTERN)
RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"
RUN_ID_EXAMPLE = "20261127T120301Z"


def is_valid_run_id(run_id: object) -> bool:
    return isinstance(run_id, str) and bool(RUN_ID_RE.fullmatch(run_id))


def run_dir_for(runs_dir: Path, run_id: str) -> Path:
    """The folder of ``run_id``; a malformed id can never name a path outside ``runs_dir``."""
    if not is_valid_run_id(run_id):
        raise RunFolderError(
            f"run id {str(run_id)[:40]!r} is malformed: expected a UTC timestamp like "
            f"{RUN_ID_EXAMPLE!r}, optionally followed by '-NN'"
        )
    return Path(runs_dir) / run_id
