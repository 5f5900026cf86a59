"""What the prediction API loads from a run and looks predictions up in.

A ``ServedRun`` is built completely (run.json, metrics.json, predictions.parquet,
model.joblib, and every response body precomputed as bytes) before it is served,
and never changes afterwards. A ``RunStore`` holds the one served run of a process
and swaps that single reference when ``runs/LATEST`` names a newer run that loads
cleanly. The usual query strings (``year=2020&month=5`` and ``month=5&year=2020``)
map straight to their body; any other form goes through ``parse_int_param``. Checking for a newer run costs one ``stat`` of ``LATEST``, at most once
every ``reload_interval`` seconds; the load itself runs off the event loop
(see app.py) while the other requests keep being answered from the old run.
A run that cannot be loaded is refused: the previous run keeps serving and the
problem is logged once per refused run id.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import joblib
import pandas as pd

from milk_forecast import contracts
from milk_forecast.contracts import ContractError
from milk_forecast.runner import run_folder

logger = logging.getLogger(__name__)

SERVICE_NAME = "milk-price-forecast"
UNIT = contracts.UNIT
YEAR_RANGE = (1900, 2200)
MONTH_RANGE = (1, 12)
FORECAST = "forecast"
RUN_HINT = "produce one with `python run_pipeline.py` (it publishes runs/LATEST)"
MAX_ECHO = 40  # characters of a client's value quoted back in an error message

_INTEGER_RE = re.compile(r"-?[0-9]+")
_MAX_DIGITS = 6

T = TypeVar("T")


class ApiError(Exception):
    """An error answered as JSON ``{"error": {"status", "code", "message", ...details}}``."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def payload(self) -> dict[str, Any]:
        return {
            "error": {
                "status": self.status,
                "code": self.code,
                "message": self.message,
                **self.details,
            }
        }


class RunRefusedError(Exception):
    """A run named by LATEST whose files are missing, unreadable or inconsistent."""


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (at any depth) replaced by None, so it is valid JSON."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [finite(item) for item in value]
    return value


def dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON; NaN becomes null."""
    return json.dumps(finite(payload), ensure_ascii=False, separators=(",", ":")).encode()


def echo(text: str) -> str:
    """A client's value, shortened, for quoting in an error message."""
    return text if len(text) <= MAX_ECHO else text[:MAX_ECHO] + "..."


def parse_int_param(name: str, values: list[str], low: int, high: int) -> int:
    """The single integer in ``values`` within ``low..high``, else a 422 naming ``name``."""
    allowed = f"integer from {low} to {high}"

    def invalid(problem: str) -> ApiError:
        return ApiError(
            422,
            "invalid_parameter",
            f"{problem}; expected an {allowed}",
            parameter=name,
            allowed=allowed,
        )

    if not values:
        raise invalid(f"{name} is missing")
    if len(values) > 1:
        raise invalid(f"{name} is given {len(values)} times")
    text = values[0]
    if not _INTEGER_RE.fullmatch(text):
        raise invalid(f"{name}={echo(text)!r} is not an integer")
    if len(text.lstrip("-")) > _MAX_DIGITS or not low <= int(text) <= high:
        raise invalid(f"{name}={echo(text)} is out of range")
    return int(text)


def month_label(year: int, month: int) -> str:
    return f"{year:04d}-{month:02d}"


def canonical_queries(year: int, month: int) -> list[bytes]:
    """The usual query strings asking for ``year``-``month``, answered without parsing."""
    return [f"year={year}&month={month}".encode(), f"month={month}&year={year}".encode()]


@dataclass(frozen=True)
class ServedRun:
    """One run loaded into memory, with every response body precomputed; never mutated."""

    run_id: str
    record: Mapping[str, Any]
    metrics: Mapping[str, Any]
    model: Any
    first_month: str
    last_month: str
    bodies: Mapping[tuple[int, int], bytes]
    query_bodies: Mapping[bytes, bytes]
    forecast_body: bytes | None
    summary: Mapping[str, Any]

    def predict_body(self, year: int, month: int) -> bytes:
        """The JSON body for ``year``-``month``, or a 404 giving the months the run covers."""
        body = self.bodies.get((year, month))
        if body is None:
            raise ApiError(
                404,
                "month_not_covered",
                f"run {self.run_id} has no prediction for {month_label(year, month)}; "
                f"it covers {self.first_month} to {self.last_month}",
                first_month=self.first_month,
                last_month=self.last_month,
                run_id=self.run_id,
            )
        return body


def _refuse_on_error(path: Path, reader: Callable[[Path], T]) -> T:
    """``reader(path)``; whatever goes wrong refuses the run with the file's name."""
    try:
        return reader(path)
    except RunRefusedError:
        raise
    except ContractError as exc:  # a contract check: its message already names the file
        raise RunRefusedError(str(exc)) from exc
    except Exception as exc:  # readers of parquet / pickles raise many unrelated types
        raise RunRefusedError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc


def _number(value: Any) -> float | None:
    """A float, or None for a missing value."""
    return None if pd.isna(value) else float(value)


def _interval(
    row: Mapping[str, Any], levels: Sequence[float]
) -> dict[str, dict[str, float]] | None:
    """``{"80": {"lower", "upper"}, "95": ...}`` for the levels the row has, or None."""
    bounds = {}
    for level in levels:
        lower = _number(row.get(contracts.interval_column(contracts.LOWER, level)))
        upper = _number(row.get(contracts.interval_column(contracts.UPPER, level)))
        if lower is not None and upper is not None:
            bounds[contracts.level_label(level)] = {"lower": lower, "upper": upper}
    return bounds or None


def prediction_payload(
    row: Mapping[str, Any], run_id: str, levels: Sequence[float]
) -> dict[str, Any]:
    """The /api/predict body of one predictions.parquet row."""
    month = pd.Timestamp(row["month"])
    return {
        "year": month.year,
        "month": month.month,
        "prediction": float(row[contracts.PREDICTED]),
        "unit": UNIT,
        "actual": _number(row[contracts.ACTUAL]),
        "kind": str(row["kind"]),
        "interval": _interval(row, levels),
        "model": None if pd.isna(row["model"]) else str(row["model"]),
        "run_id": run_id,
    }


def forecast_payload(row: Mapping[str, Any], run_id: str, metrics: Mapping[str, Any]) -> dict:
    """The /api/forecast body: the forecast row plus metrics.json's forecast model and reason."""
    payload = prediction_payload(row, run_id, metrics["interval_levels"])
    forecast = metrics.get("forecast")
    forecast = forecast if isinstance(forecast, dict) else {}
    model = forecast.get("model")
    reason = forecast.get("reason")
    payload["model"] = str(model) if model is not None else payload["model"]
    payload["reason"] = str(reason) if reason is not None else None
    return payload


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _object(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def load_served_run(runs_dir: Path, run_id: str) -> ServedRun:
    """Load ``run_id`` completely and precompute its bodies; RunRefusedError if it cannot serve."""
    run_dir = run_folder.run_dir_for(runs_dir, run_id)
    try:
        record = contracts.read_run_record(run_dir)
    except contracts.RunFolderError as exc:
        raise RunRefusedError(str(exc)) from exc
    if record.get("status") != contracts.SUCCEEDED:
        raise RunRefusedError(
            f"{run_dir / contracts.RUN_JSON}: 'status' is {record.get('status')!r}, not 'succeeded'"
        )
    metrics = _refuse_on_error(run_dir / contracts.METRICS_FILE, contracts.read_metrics)
    frame = _refuse_on_error(run_dir / contracts.PREDICTIONS_FILE, contracts.read_predictions)
    model = _refuse_on_error(run_dir / contracts.MODEL_FILE, joblib.load)
    rows = frame.to_dict("records")
    bodies = {}
    forecast_body = None
    for row in rows:
        month = pd.Timestamp(row["month"])
        body = prediction_payload(row, run_id, metrics["interval_levels"])
        bodies[(month.year, month.month)] = dumps(body)
        if row["kind"] == FORECAST:
            forecast_body = dumps(forecast_payload(row, run_id, metrics))
    first, last = pd.Timestamp(rows[0]["month"]), pd.Timestamp(rows[-1]["month"])
    summary = {
        "run_id": run_id,
        "started_at": _text(record.get("started_at")),
        "finished_at": _text(record.get("finished_at")),
        "data_source": contracts.data_source(record.get("synthetic_sample")),
        "headline": _object(metrics.get("headline")) or _object(record.get("headline")),
        "first_month": month_label(first.year, first.month),
        "last_month": month_label(last.year, last.month),
        "model_class": type(model).__name__,
    }
    return ServedRun(
        run_id=run_id,
        record=MappingProxyType(record),
        metrics=MappingProxyType(metrics),
        model=model,
        first_month=summary["first_month"],
        last_month=summary["last_month"],
        bodies=MappingProxyType(bodies),
        query_bodies=MappingProxyType(
            {query: body for key, body in bodies.items() for query in canonical_queries(*key)}
        ),
        forecast_body=forecast_body,
        summary=MappingProxyType(summary),
    )


def _latest_stamp(runs_dir: Path) -> tuple[int, int, int] | None:
    """Identity of runs/LATEST (inode, mtime, size); None when it does not exist."""
    try:
        stat = os.stat(runs_dir / contracts.LATEST)
    except OSError:
        return None
    return (stat.st_ino, stat.st_mtime_ns, stat.st_size)


class RunStore:
    """The served run of one process: loaded at startup, swapped when LATEST names a newer run."""

    def __init__(
        self,
        runs_dir: Path,
        reload_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.runs_dir = runs_dir
        self.reload_interval = reload_interval
        self._clock = clock
        self._next_check = 0.0
        self._stamp: tuple[int, int, int] | None = None
        self._served: ServedRun | None = None
        self._refused: dict[str, str] = {}
        self._loading = threading.Lock()

    @property
    def served(self) -> ServedRun | None:
        return self._served

    @property
    def refused(self) -> Mapping[str, str]:
        """Run ids (or "LATEST" when it holds no run id) refused so far, with the reason."""
        return MappingProxyType(self._refused)

    def due(self) -> bool:
        """True at most once per ``reload_interval``: time to look at LATEST again."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self.reload_interval
        return True

    def changed(self) -> bool:
        """Whether LATEST was replaced since the last refresh (one stat)."""
        return _latest_stamp(self.runs_dir) != self._stamp

    def refresh(self) -> bool:
        """Serve the run LATEST names if LATEST changed and the run loads; True on a swap."""
        stamp = _latest_stamp(self.runs_dir)
        if stamp == self._stamp or not self._loading.acquire(blocking=False):
            return False
        try:
            self._stamp = stamp
            return self._load_latest()
        finally:
            self._loading.release()

    def _load_latest(self) -> bool:
        try:
            run_id = run_folder.read_latest(self.runs_dir)
        except contracts.RunFolderError as exc:
            self._refuse(contracts.LATEST, str(exc))
            return False
        current = self._served
        if run_id is None or run_id in self._refused or (current and current.run_id == run_id):
            return False
        try:
            served = load_served_run(self.runs_dir, run_id)
        except RunRefusedError as exc:
            self._refuse(run_id, str(exc))
            return False
        self._served = served  # the one atomic swap: requests see the old run or the new one
        logger.info("serving run %s from %s", run_id, self.runs_dir)
        return True

    def _refuse(self, subject: str, reason: str) -> None:
        """Remember a refused run (or LATEST content) and log it, once per reason."""
        if self._refused.get(subject) == reason:
            return
        self._refused[subject] = reason
        current = self._served.run_id if self._served else "nothing"
        logger.error("refusing %s: %s (still serving %s)", subject, reason, current)

    def no_run_error(self) -> ApiError:
        """The 503 answered while no run is served, saying how to make one."""
        message = f"no succeeded run is being served from {self.runs_dir}: {RUN_HINT}"
        if self._refused:
            subject, reason = next(reversed(self._refused.items()))
            message += f"; refused {subject}: {reason}"
        return ApiError(503, "no_run", message, hint=RUN_HINT)


def run_row(summary: run_folder.RunSummary, served_id: str | None) -> dict[str, Any]:
    """One line of /api/contracts."""
    record = summary.record
    error = {"message": summary.error} if summary.error else _object(record.get("error"))
    return {
        "run_id": summary.run_id,
        "status": summary.status,
        "started_at": _text(record.get("started_at")),
        "finished_at": _text(record.get("finished_at")),
        "data_source": contracts.data_source(record.get("synthetic_sample")),
        "headline": _object(record.get("headline")),
        "served": summary.run_id == served_id,
        "error": error,
    }


def runs_payload(runs_dir: Path, served_id: str | None) -> dict[str, Any]:
    """The /api/runs body: every run, newest first, and which one is served."""
    rows = [run_row(summary, served_id) for summary in run_folder.list_runs(runs_dir)]
    return {"served_run_id": served_id, "runs": rows}


def run_payload(runs_dir: Path, run_id: str, served_id: str | None) -> dict[str, Any]:
    """The /api/runs/{run_id} body: its run.json and metrics.json; 404 for unknown ids."""
    try:
        run_dir = run_folder.run_dir_for(runs_dir, run_id)
    except contracts.RunFolderError:
        raise ApiError(
            404,
            "unknown_run",
            f"{echo(run_id)!r} is not a run id: run ids look like '20261127T120301Z'",
        ) from None
    if not run_dir.is_dir():
        raise ApiError(404, "unknown_run", f"there is no run {run_id} in {runs_dir}")
    record, error = None, None
    try:
        record = contracts.read_run_record(run_dir)
    except contracts.RunFolderError as exc:
        error = str(exc)
    try:
        metrics = contracts.read_json_object(run_dir / contracts.METRICS_FILE)
    except contracts.ContractError:
        metrics = None
    return {
        "run_id": run_id,
        "status": run_folder.effective_status(record) if record else contracts.INCOMPLETE,
        "served": run_id == served_id,
        "run": record,
        "metrics": metrics,
        "error": error,
    }
