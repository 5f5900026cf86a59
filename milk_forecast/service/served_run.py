"""One run as the API serves it: checked by ``run_folder.servable`` (the check
``run_pipeline.py --publish`` makes too), then every answer encoded once: each month
(/api/predict), the forecast path and each horizon (/api/forecast), and the run's part
of the page. Prices are rounded to 2 decimals, as they are published.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.layout import MONTH, UNIT
from milk_forecast.run_folder.record import data_source
from milk_forecast.run_folder.servable import Servable, load_servable
from milk_forecast.service import page
from milk_forecast.service.answers import ApiError, dumps, flat_object, short_text


@dataclass(frozen=True)
class ServedRun:
    """A loaded run: its documents, its summary (for /) and every body; never changed."""

    servable: Servable
    summary: Mapping[str, Any]
    bodies: Mapping[tuple[int, int], bytes]  # (year, month) -> the /api/predict body
    queries: Mapping[bytes, bytes]  # b"year=2020&month=4" (either order) -> the same body
    path_body: bytes
    horizons: Mapping[int, bytes]  # horizon -> the /api/forecast?horizon= body
    page: Mapping[str, Any]  # the run's part of the page

    @property
    def run_id(self) -> str:
        return self.servable.run_id

    def not_covered(self, code: str, asked: str, first: str, last: str) -> ApiError:
        message = f"run {self.run_id} has no {asked}; it covers {first} to {last}"
        return ApiError(404, code, message, first_month=first, last_month=last, run_id=self.run_id)

    def predict_body(self, year: int, month: int) -> bytes:
        """The body of ``year``-``month``; a 404 giving the months the run covers."""
        body = self.bodies.get((year, month))
        if body is None:
            first, last = self.summary["first_month"], self.summary["last_month"]
            asked = f"prediction for {year:04d}-{month:02d}"
            raise self.not_covered("month_not_covered", asked, first, last)
        return body

    def forecast_body(self, horizon: int | None = None) -> bytes:
        """The whole path, or one month of it; a 404 past its end giving the months covered."""
        if not self.horizons:
            raise ApiError(404, "no_forecast", f"run {self.run_id} has no forecast row")
        body = self.path_body if horizon is None else self.horizons.get(horizon)
        if body is None:
            first, last = self.summary["forecast_first_month"], self.summary["forecast_last_month"]
            asked = f"horizon {horizon} (its path has horizons 1 to {len(self.horizons)})"
            raise self.not_covered("horizon_not_covered", asked, first, last)
        return body


SIDES = (p.LOWER, p.UPPER)


def price(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def prediction(row: Mapping[str, Any], run_id: str, levels: Sequence[float]) -> dict[str, Any]:
    """The /api/predict body of one checked predictions.json row (intervals by level)."""
    bounds = {
        p.level_label(level): {side: price(row[p.interval_column(side, level)]) for side in SIDES}
        for level in levels
        if row.get(p.interval_column(p.LOWER, level)) is not None
    }
    month = row[MONTH]
    return {
        "year": int(month[:4]),
        "month": int(month[5:]),
        "prediction": price(row[p.PREDICTED]),
        "unit": UNIT,
        "actual": price(row.get(p.ACTUAL)),
        "kind": row[p.KIND],
        "horizon": row.get(p.HORIZON),
        "interval": bounds or None,
        "model": short_text(row[p.MODEL]),
        "reason": short_text(row.get(p.REASON)),
        "run_id": run_id,
    }


def build_served_run(run: Servable) -> ServedRun:
    """Every body of a run ``run_folder.servable`` checked."""
    levels, rows, record = run.predictions["interval_levels"], run.predictions["rows"], run.record
    answers = [prediction(row, run.run_id, levels) for row in rows]
    path = [answer for answer in answers if answer["kind"] == p.FORECAST]
    path_months = [row[MONTH] for row in rows if row[p.KIND] == p.FORECAST] or [None]
    bodies = {(answer["year"], answer["month"]): dumps(answer) for answer in answers}
    summary = {
        "run_id": run.run_id,
        "started_at": short_text(record.get("started_at")),
        "finished_at": short_text(record.get("finished_at")),
        "data_source": data_source(record.get("synthetic_sample")),
        "headline": flat_object(run.metrics["headline"]),
        "first_month": rows[0][MONTH],
        "last_month": rows[-1][MONTH],
        "forecast_first_month": path_months[0],
        "forecast_last_month": path_months[-1],
    }
    labels = [p.level_label(level) for level in levels]
    return ServedRun(
        servable=run,
        summary=summary,
        bodies=bodies,
        queries={
            query.encode(): body
            for (year, month), body in bodies.items()
            for query in (f"year={year}&month={month}", f"month={month}&year={year}")
        },
        path_body=dumps(
            {"run_id": run.run_id, "unit": UNIT, "interval_levels": labels, "path": path}
        ),
        horizons={answer["horizon"]: dumps(answer) for answer in path},
        page=page.run_part(run, summary),
    )


def load_served_run(runs_dir: Path, run_id: str) -> ServedRun:
    """The run ``run_id``, checked and encoded; ``RunFolderError`` naming the file if not."""
    return build_served_run(load_servable(runs_dir, run_id))
