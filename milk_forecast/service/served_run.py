"""One run as the API serves it: read from its JSON files, every response body precomputed.

``load_served_run`` reads ``run.json``, ``metrics.json`` and ``predictions.json`` through
the guarded ``RunsFolder`` and the contract readers (standard library only: nothing is
unpickled, the model file is never opened), checks what serving needs on top of the
contracts, and builds a ``ServedRun``: the body of every month (``/api/predict``), of
the whole forecast path and of each of its horizons (``/api/forecast``), as bytes. A
``ServedRun`` never changes; anything wrong raises ``RefusedError`` naming the file.
Prices are rounded to 2 decimals (CLP/L, as prices are published). The same load reads
the run's charts for the page (``dashboard.read_charts``: a missing or unreadable chart
is a note on the page, never a refusal) and the figures /metrics reports (``RunFacts``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from milk_forecast.run_folder.files import is_number
from milk_forecast.run_folder.layout import MONTH, PREDICTIONS_JSON
from milk_forecast.run_folder.metrics import DRIFT, RMSE, TRACK_RECORD
from milk_forecast.run_folder.predictions import (
    ACTUAL,
    FORECAST,
    HORIZON,
    KIND,
    LOWER,
    MODEL,
    PREDICTED,
    REASON,
    UPPER,
    interval_column,
    level_label,
)
from milk_forecast.run_folder.record import data_source
from milk_forecast.run_folder.servable import load_servable
from milk_forecast.service import dashboard, guard
from milk_forecast.service.guard import RefusedError, RunsFolder
from milk_forecast.service.page import PageData
from milk_forecast.service.serving import (
    SERVICE_NAME,
    UNIT,
    ApiError,
    dumps,
    flat_object,
    month_label,
    price,
    short_text,
)


def canonical_queries(name_values: Mapping[str, int]) -> list[bytes]:
    """The usual query strings for these parameters (each order), answered without parsing."""
    pairs = [f"{name}={value}" for name, value in name_values.items()]
    orders = [pairs, pairs[::-1]] if len(pairs) == 2 else [pairs]
    return ["&".join(order).encode() for order in orders]


@dataclass(frozen=True)
class RunFacts:
    """What /metrics says about a run, read once when it loads (None: the run has none)."""

    finished_epoch: float | None = None  # run.json finished_at, seconds since the epoch
    walk_forward_rmse: float | None = None  # headline: the served model, h=1, CLP/L
    track_record_rmse: float | None = None  # published one-month forecasts so far, CLP/L
    track_record_count: int = 0
    drift_status: str | None = None


@dataclass(frozen=True)
class ServedRun:
    """One run loaded into memory, with every response body precomputed; never mutated."""

    run_id: str
    summary: Mapping[str, Any]
    first_month: str
    last_month: str
    bodies: Mapping[tuple[int, int], bytes]
    query_bodies: Mapping[bytes, bytes]
    path_body: bytes | None
    horizon_bodies: Mapping[int, bytes]
    horizon_queries: Mapping[bytes, bytes]
    facts: RunFacts = field(default_factory=RunFacts)
    page: PageData | None = None  # the page's run part; history added by dashboard.Dashboard

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

    def forecast_body(self, horizon: int | None = None) -> bytes:
        """The whole path (``horizon`` None) or one month of it; 404 past the path."""
        if self.path_body is None:
            raise ApiError(404, "no_forecast", f"run {self.run_id} has no forecast row")
        if horizon is None:
            return self.path_body
        body = self.horizon_bodies.get(horizon)
        if body is None:
            first, last = self.summary["forecast_first_month"], self.summary["forecast_last_month"]
            raise ApiError(
                404,
                "horizon_not_covered",
                f"run {self.run_id} forecasts horizons 1 to {len(self.horizon_bodies)} "
                f"({first} to {last}), not {horizon}",
                first_month=first,
                last_month=last,
                run_id=self.run_id,
            )
        return body


def interval_payload(row: Mapping[str, Any], levels: Sequence[float]) -> dict | None:
    """``{"80": {"lower", "upper"}, "95": ...}`` for the levels the row has, or None."""
    bounds = {}
    for level in levels:
        lower = row.get(interval_column(LOWER, level))
        upper = row.get(interval_column(UPPER, level))
        if lower is not None and upper is not None:
            bounds[level_label(level)] = {"lower": price(lower), "upper": price(upper)}
    return bounds or None


def prediction_payload(
    row: Mapping[str, Any], run_id: str, levels: Sequence[float]
) -> dict[str, Any]:
    """The /api/predict body of one predictions.json row (checked by its contract reader)."""
    month = row[MONTH]
    return {
        "year": int(month[:4]),
        "month": int(month[5:]),
        "prediction": price(row[PREDICTED]),
        "unit": UNIT,
        "actual": price(row.get(ACTUAL)),
        "kind": row[KIND],
        "horizon": row.get(HORIZON),
        "interval": interval_payload(row, levels),
        "model": short_text(row[MODEL]),
        "reason": short_text(row.get(REASON)),
        "run_id": run_id,
    }


def _summary(run_id: str, record: Mapping, metrics: Mapping, rows: list, path: list) -> dict:
    """What / says about the served run."""
    return {
        "run_id": run_id,
        "started_at": short_text(record.get("started_at")),
        "finished_at": short_text(record.get("finished_at")),
        "data_source": data_source(record.get("synthetic_sample")),
        "headline": flat_object(metrics.get("headline")),
        "first_month": rows[0][MONTH],
        "last_month": rows[-1][MONTH],
        "forecast_first_month": path[0][MONTH] if path else None,
        "forecast_last_month": path[-1][MONTH] if path else None,
    }


def epoch(timestamp: Any) -> float | None:
    """Seconds since the epoch of an ISO 8601 UTC timestamp (``...Z``); None if it is not one."""
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp)
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo is not None else None


def _number(value: Any) -> float | None:
    return float(value) if is_number(value) else None


def run_facts(record: Mapping, metrics: Mapping) -> RunFacts:
    """The figures /metrics reports, each None when the run's files do not hold it."""
    record_block = metrics.get(TRACK_RECORD)
    horizons = record_block.get("horizons") if isinstance(record_block, Mapping) else None
    one = horizons.get("1") if isinstance(horizons, Mapping) else None
    one = one if isinstance(one, Mapping) else {}
    count = one.get("count")
    drift = metrics.get(DRIFT)
    status = drift.get("status") if isinstance(drift, Mapping) else None
    return RunFacts(
        finished_epoch=epoch(record.get("finished_at")),
        walk_forward_rmse=_number(metrics["headline"].get(RMSE)),
        track_record_rmse=_number(one.get(RMSE)),
        track_record_count=count if isinstance(count, int) and not isinstance(count, bool) else 0,
        drift_status=short_text(status),
    )


def build_served_run(
    run_id: str,
    record: Mapping,
    metrics: Mapping,
    document: Mapping,
    path: Path,
    charts: dashboard.Charts | None = None,
) -> ServedRun:
    """The ServedRun of documents already read and checked by their contract readers."""
    levels, rows = document["interval_levels"], document["rows"]
    payloads = [prediction_payload(row, run_id, levels) for row in rows]
    bodies = {(p["year"], p["month"]): dumps(p) for p in payloads}
    forecast = [p for p in payloads if p["kind"] == FORECAST]
    horizon_bodies = {p["horizon"]: dumps(p) for p in forecast}
    path_payload = {
        "run_id": run_id,
        "unit": UNIT,
        "interval_levels": [level_label(level) for level in levels],
        "path": forecast,
    }
    forecast_rows = [row for row in rows if row[KIND] == FORECAST]
    summary = _summary(run_id, record, metrics, rows, forecast_rows)
    return ServedRun(
        run_id=run_id,
        summary=MappingProxyType(summary),
        first_month=summary["first_month"],
        last_month=summary["last_month"],
        bodies=MappingProxyType(bodies),
        query_bodies=MappingProxyType(
            {
                query: body
                for (year, month), body in bodies.items()
                for query in canonical_queries({"year": year, "month": month})
            }
        ),
        path_body=dumps(path_payload) if forecast else None,
        horizon_bodies=MappingProxyType(horizon_bodies),
        horizon_queries=MappingProxyType(
            {canonical_queries({"horizon": h})[0]: body for h, body in horizon_bodies.items()}
        ),
        facts=run_facts(record, metrics),
        page=PageData(
            service=SERVICE_NAME,
            run_id=run_id,
            finished_at=summary["finished_at"],
            data_source=summary["data_source"],
            metrics=metrics,
            rows=rows,
            charts=charts.images if charts else {},
            chart_notes=charts.notes if charts else {},
        ),
    )


def load_served_run(folder: RunsFolder, run_id: str) -> ServedRun:
    """Load ``run_id`` completely and precompute its bodies; RefusedError if it cannot serve."""
    servable = load_servable(folder.path, run_id)
    run_dir, record, metrics, document = (
        servable.run_dir,
        servable.record,
        servable.metrics,
        servable.predictions,
    )
    predictions = run_dir / PREDICTIONS_JSON
    charts = dashboard.read_charts(folder, run_dir)
    try:
        return build_served_run(run_id, record, metrics, document, predictions, charts)
    except RefusedError:
        raise
    except Exception as exc:  # a check the contract readers missed: refuse, never crash
        message = f"{predictions}: cannot be served ({type(exc).__name__}: {exc})"
        raise RefusedError(guard.sanitize(message)) from None
