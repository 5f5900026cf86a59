"""The run folder contract shared by the runner, the API and the tests.

A run lives in ``<runs_dir>/<run_id>/`` and holds the executed notebooks, the
parquet hand-offs, the model, ``metrics.json``, ``predictions.parquet`` and
``run.json``. ``<runs_dir>/LATEST`` names the newest run that fully succeeded
and is only ever replaced atomically (write, then rename).
"""

from __future__ import annotations

import json
import os
import re
import socket
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from milk_forecast.checks import StageOutputError, check_parquet

RUN_JSON = "run.json"
LATEST = "LATEST"
NOTEBOOKS_DIR = "notebooks"
MODEL_FILE = "model.joblib"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.parquet"
REPORT_FILE = "report.html"

# predictions.parquet: one row per month, sorted, no month missing.
ACTUAL = "actual_clp_per_l"
PREDICTED = "predicted_clp_per_l"
IN_SAMPLE, BACKTEST, FORECAST = "in_sample", "backtest", "forecast"
PREDICTION_KINDS = (IN_SAMPLE, BACKTEST, FORECAST)
PREDICTION_COLUMNS = (ACTUAL, PREDICTED, "kind", "model")

RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"
# Not stored: what a "running" run whose process is gone is reported as.
INCOMPLETE = "incomplete"

RUN_ID_RE = re.compile(r"^[0-9]{8}T[0-9]{6}Z(-[0-9]{2})?$")
RUN_ID_FORMAT = "%Y%m%dT%H%M%SZ"


class RunFolderError(Exception):
    """A run folder, ``run.json`` or ``LATEST`` that breaks the contract."""


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """UTC timestamp as ISO 8601 with a ``Z`` suffix, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def is_valid_run_id(run_id: str) -> bool:
    return bool(RUN_ID_RE.fullmatch(run_id))


def run_dir_for(runs_dir: Path, run_id: str) -> Path:
    """The folder of ``run_id``; a malformed id can never name a path outside ``runs_dir``."""
    if not is_valid_run_id(run_id):
        raise RunFolderError(
            f"run id {run_id!r} is malformed: expected a UTC timestamp like "
            "'20261127T120301Z', optionally followed by '-NN'"
        )
    return runs_dir / run_id


def create_run_dir(runs_dir: Path, now: datetime | None = None) -> tuple[str, Path]:
    """Create a new, empty run folder; the id is unique even within one second."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or utc_now()).astimezone(UTC).strftime(RUN_ID_FORMAT)
    for suffix in [""] + [f"-{n:02d}" for n in range(1, 100)]:
        run_id = stamp + suffix
        try:
            (runs_dir / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, runs_dir / run_id
    raise RunFolderError(f"more than 100 runs started in {stamp} under {runs_dir}")


def write_json_atomic(path: Path, payload: Any) -> None:
    """Write JSON next to ``path`` and rename it into place, so readers never see half a file."""
    text = json.dumps(payload, indent=2, sort_keys=False, default=str) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_run_record(run_dir: Path) -> dict[str, Any]:
    """Parsed ``run.json`` of ``run_dir``; a missing or unreadable file names itself."""
    path = run_dir / RUN_JSON
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunFolderError(f"{path} is missing") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{path} is unreadable: {exc}") from None
    if not isinstance(record, dict) or "status" not in record:
        raise RunFolderError(f"{path} has no 'status' key")
    return record


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / RUN_JSON, record)


def read_latest(runs_dir: Path) -> str | None:
    """The run id that ``LATEST`` names, or None when no run has succeeded yet."""
    path = runs_dir / LATEST
    try:
        run_id = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not is_valid_run_id(run_id):
        raise RunFolderError(f"{path} holds {run_id!r}, which is not a run id")
    return run_id


def publish_latest(runs_dir: Path, run_id: str) -> None:
    """Point ``LATEST`` at ``run_id`` atomically: readers see the old id or the new one."""
    run_dir_for(runs_dir, run_id)  # validates the id
    write_text_atomic(runs_dir / LATEST, run_id + "\n")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(record: dict[str, Any]) -> str:
    """The stored status, except that a ``running`` run whose process is gone is incomplete."""
    status = str(record.get("status"))
    if status != RUNNING:
        return status
    pid = record.get("pid")
    same_host = record.get("host") == socket.gethostname()
    if isinstance(pid, int) and same_host and not pid_alive(pid):
        return INCOMPLETE
    return RUNNING


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    path: Path
    status: str
    record: dict[str, Any]
    error: str | None = None


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run folder under ``runs_dir``, newest first; broken ones are reported, not skipped."""
    if not runs_dir.is_dir():
        return []
    summaries = []
    for path in sorted(runs_dir.iterdir(), key=lambda p: p.name, reverse=True):
        if not path.is_dir() or not is_valid_run_id(path.name):
            continue
        try:
            record = read_run_record(path)
        except RunFolderError as exc:
            summaries.append(RunSummary(path.name, path, INCOMPLETE, {}, str(exc)))
            continue
        summaries.append(RunSummary(path.name, path, effective_status(record), record))
    return summaries


def read_predictions(path: Path) -> pd.DataFrame:
    """``predictions.parquet``, checked: monthly, sorted, contiguous, predicted, known kinds."""
    frame = check_parquet(path, required=PREDICTION_COLUMNS, no_nan=(PREDICTED, "kind", "model"))
    unknown = sorted(set(frame["kind"].astype(str)) - set(PREDICTION_KINDS))
    if unknown:
        raise StageOutputError(
            f"{path}: column 'kind' holds {unknown[0]!r}, expected one of {PREDICTION_KINDS}"
        )
    return frame
