"""One run as the API serves it, once ``run_folder.servable`` checked it: every answer
encoded when it loads. Prices are rounded to 2 decimals, as they are published."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.layout import MONTH, UNIT
from milk_forecast.run_folder.record import data_source
from milk_forecast.run_folder.servable import Servable
from milk_forecast.service import page
from milk_forecast.service.answers import ApiError, dumps, flat_object, rounded, short_text


def prediction(row: Mapping[str, Any], run_id: str, levels: Sequence[float]) -> dict[str, Any]:
    """The /api/predict answer of one predictions.json row (intervals by level)."""
    sides = (p.LOWER, p.UPPER)
    interval = {
        p.level_label(level): {side: rounded(row[p.interval_column(side, level)]) for side in sides}
        for level in levels
        if row.get(p.interval_column(p.LOWER, level)) is not None
    }
    month = row[MONTH]
    return {
        "year": int(month[:4]),
        "month": int(month[5:]),
        "prediction": rounded(row[p.PREDICTED]),
        "unit": UNIT,
        "actual": rounded(row.get(p.ACTUAL)),
        "kind": row[p.KIND],
        "horizon": row.get(p.HORIZON),
        "interval": interval or None,
        "model": short_text(row[p.MODEL]),
        "reason": short_text(row.get(p.REASON)),
        "run_id": run_id,
    }


class ServedRun:
    """A servable run's summary (for ``/``), page part and answers; never changed."""

    def __init__(self, run: Servable) -> None:
        levels, rows = run.predictions["interval_levels"], run.predictions["rows"]
        record = run.record
        answers = [prediction(row, run.run_id, levels) for row in rows]
        path = [answer for answer in answers if answer["kind"] == p.FORECAST]
        path_months = [row[MONTH] for row in rows if row[p.KIND] == p.FORECAST] or [None]
        self.servable, self.run_id = run, run.run_id
        self.bodies = {(answer["year"], answer["month"]): dumps(answer) for answer in answers}
        self.queries = {  # /api/predict's fast path: the usual query strings, either order
            query.encode(): body
            for (year, month), body in self.bodies.items()
            for query in (f"year={year}&month={month}", f"month={month}&year={year}")
        }
        labels = [p.level_label(level) for level in levels]
        path_answer = {"run_id": run.run_id, "unit": UNIT, "interval_levels": labels, "path": path}
        self.path_body, self.horizons = dumps(path_answer), {a["horizon"]: dumps(a) for a in path}
        self.summary = {
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
        self.page = page.run_part(run, self.summary)

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
