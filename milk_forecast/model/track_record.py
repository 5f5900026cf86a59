"""The track record: the forecasts served, and how they turned out (scores, summary, drift).

A backtest says how the model *would* have done; the track record says how the forecasts
we actually published did, scored against the prices known now. They are found through the
publication log; runs that succeeded before the log existed count as published when they
finished, unless the log holds their publication by the pipeline. When several runs share
an origin, the one published last counts: that is what was being served. The drift warning
never blocks publishing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from milk_forecast.model.forecaster import ORIGIN
from milk_forecast.run_folder import layout
from milk_forecast.run_folder import metrics as m
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.publication import PUBLISHED_BY_PIPELINE, read_publications
from milk_forecast.run_folder.record import SUCCEEDED, list_runs, read_run_record

RUN_ID = "run_id"
PUBLISHED_AT = "published_at"
ERROR = "error_clp_per_l"
# Drift rule: the last DRIFT_WINDOW one-month errors, each test at DRIFT_ALPHA.
DRIFT_WINDOW = 6
DRIFT_ALPHA = 0.05
Log = Callable[[str], None]
SHOWN_NOTES = 5  # of the log's skipped lines, the first are shown, the others counted


def publication_history(runs_dir: Path, log: Log = print) -> list[dict[str, Any]]:
    """Every publication, oldest first: the runs that succeeded before the log, then the log."""
    entries, notes = read_publications(runs_dir)
    for note in notes[:SHOWN_NOTES]:
        log(f"publication log: {note}")
    if len(notes) > SHOWN_NOTES:
        log(f"publication log: {len(notes) - SHOWN_NOTES} more line(s) skipped, not shown")
    first = min((e["published_at"] for e in entries), default=None)
    logged = {e["run_id"] for e in entries if e["by"] == PUBLISHED_BY_PIPELINE}
    earlier = []
    for s in reversed(list_runs(runs_dir)):
        finished = s.record.get("finished_at")
        before = isinstance(finished, str) and (first is None or finished < first)
        if s.status == SUCCEEDED and s.run_id not in logged and before:
            earlier.append(
                {"run_id": s.run_id, "published_at": finished, "by": "pipeline (before the log)"}
            )
    return sorted(earlier, key=lambda e: e["published_at"]) + entries


def published_forecasts(runs_dir: Path, log: Log = print) -> pd.DataFrame:
    """The forecast rows of every published run, with its id, origin and last publication time
    (the one that counts; each run is read once however often the log names it); a run no
    longer succeeded with readable predictions is left out with a line saying why."""
    history, frames = publication_history(runs_dir, log), []
    last = {entry["run_id"]: index for index, entry in enumerate(history)}
    for entry in (history[index] for index in sorted(last.values())):
        try:
            forecasts = forecast_rows(layout.run_dir_for(runs_dir, entry["run_id"]))
        except layout.RunFolderError as exc:
            log(f"track record: run {entry['run_id']} left out: {exc}")
            continue
        published = {RUN_ID: entry["run_id"], PUBLISHED_AT: entry["published_at"]}
        frames.append(forecasts.assign(**published))
    if not frames:
        return pd.DataFrame(columns=[RUN_ID, PUBLISHED_AT, ORIGIN, layout.MONTH, p.HORIZON])
    return pd.concat(frames, ignore_index=True)


def forecast_rows(run_dir: Path) -> pd.DataFrame:
    """The forecast rows of a succeeded run; ``origin`` is the month before the first."""
    record = read_run_record(run_dir)
    if record["status"] != SUCCEEDED:
        raise layout.RunFolderError(f"{run_dir}: its status is {record['status']!r}")
    rows = pd.DataFrame(p.read_predictions_json(run_dir / layout.PREDICTIONS_JSON)["rows"])
    rows[layout.MONTH] = pd.to_datetime(rows[layout.MONTH], format="%Y-%m")
    rows = rows[rows[p.KIND] == p.FORECAST].sort_values(layout.MONTH, ignore_index=True)
    if rows.empty:
        raise layout.RunFolderError(f"{run_dir}: no forecast row")
    rows[p.HORIZON] = rows[p.HORIZON].astype("int64")
    return rows.assign(**{ORIGIN: rows[layout.MONTH].iloc[0] - pd.DateOffset(months=1)})


def inside_column(level: float) -> str:
    """``in_80``: whether the ``level`` interval held the actual price."""
    return f"in_{p.level_label(level)}"


def track_record_columns(levels: tuple[float, ...]) -> list[str]:
    """The columns of ``track_record.parquet`` (docs/contracts.md)."""
    return [RUN_ID, ORIGIN, layout.MONTH, p.HORIZON, p.PREDICTED, p.ACTUAL, ERROR] + [
        inside_column(level) for level in levels
    ]


def score(published: pd.DataFrame, price: pd.Series, levels: tuple[float, ...]) -> pd.DataFrame:
    """One row per forecast of the last published run per origin whose month has a price
    (``track_record_columns``; error = actual - predicted), by origin, then horizon."""
    columns = track_record_columns(levels)
    if published.empty:
        return pd.DataFrame(columns=columns)
    ordered = published.sort_values(PUBLISHED_AT, kind="stable")
    served = ordered.drop_duplicates(ORIGIN, keep="last")[[ORIGIN, RUN_ID]]
    rows = ordered.merge(served, on=[ORIGIN, RUN_ID])
    rows = rows.assign(**{p.ACTUAL: price.reindex(pd.DatetimeIndex(rows[layout.MONTH])).to_numpy()})
    rows = rows[rows[p.ACTUAL].notna()].copy()
    rows[ERROR] = rows[p.ACTUAL] - rows[p.PREDICTED]
    for level in levels:
        lower, upper = p.interval_column(p.LOWER, level), p.interval_column(p.UPPER, level)
        if lower in rows and upper in rows:
            held = (rows[lower] <= rows[p.ACTUAL]) & (rows[p.ACTUAL] <= rows[upper])
            rows[inside_column(level)] = held.where(rows[lower].notna() & rows[upper].notna())
        else:
            rows[inside_column(level)] = np.nan
    rows = rows.sort_values([ORIGIN, p.HORIZON], kind="stable", ignore_index=True)
    return rows[columns]


def summarize(record: pd.DataFrame, levels: tuple[float, ...]) -> dict[str, Any]:
    """Per horizon: count, RMSE, MAE and the share of forecasts inside each interval."""
    summary: dict[str, Any] = {}
    for horizon, rows in record.groupby(p.HORIZON, sort=True):
        errors = rows[ERROR].to_numpy(dtype="float64")
        held = {p.level_label(level): rows[inside_column(level)].dropna() for level in levels}
        inside = {label: float(h.mean()) if len(h) else None for label, h in held.items()}
        summary[str(int(horizon))] = {
            "count": len(rows),
            m.RMSE: float(np.sqrt(np.mean(errors**2))),
            m.MAE: float(np.mean(np.abs(errors))),
            "inside": inside,
        }
    return summary


def drift_status(
    record: pd.DataFrame, promised_rmse: float, levels: tuple[float, ...]
) -> dict[str, Any]:
    """Whether the recent one-month published forecasts drift from what the backtest promised.

    Two tests over the last ``DRIFT_WINDOW`` (n) one-month forecasts, each at ``DRIFT_ALPHA``:
    - errors: if they were as the backtest promised (normal, mean 0, its RMSE), the sum of
      their squares over ``promised_rmse**2`` would follow a chi-square with n degrees of
      freedom; a sum above its 1 - alpha quantile is more error than chance explains (with
      6 errors: an RMSE above about 1.45 times the promised one);
    - intervals: the number of misses of each level's interval would be binomial (n,
      1 - level); a count whose upper tail probability is below alpha is more misses than
      chance explains (80% interval, 6 forecasts: 4 misses or more).
    """
    n = DRIFT_WINDOW
    recent = record[record[p.HORIZON] == 1].sort_values(ORIGIN).tail(n)
    rule = (
        f"last {n} one-month published forecasts: chi-square test of their errors "
        f"against the backtest RMSE and binomial test of each interval's misses, each at "
        f"{DRIFT_ALPHA:g} (about one false alarm in {round(1 / DRIFT_ALPHA)} runs)"
    )
    status: dict[str, Any] = {"rule": rule, "window": n, "scored": len(recent)}
    if len(recent) < n or not math.isfinite(promised_rmse) or promised_rmse <= 0:
        return {**status, "status": m.DRIFT_UNKNOWN, "reasons": []}
    errors = recent[ERROR].to_numpy(dtype="float64")
    rmse = float(np.sqrt(np.mean(errors**2)))
    limit = promised_rmse * math.sqrt(stats.chi2.ppf(1 - DRIFT_ALPHA, n) / n)
    reasons = []
    if rmse > limit:
        reasons.append(
            f"recent one-month RMSE {rmse:.2f} CLP/L is above {limit:.2f} (the backtest "
            f"promised {promised_rmse:.2f})"
        )
    misses = {}
    for level in levels:
        held = recent[inside_column(level)].dropna().astype(bool)
        label = p.level_label(level)
        misses[label] = int((~held).sum())
        tail = float(stats.binom.sf(misses[label] - 1, len(held), 1 - level))
        if len(held) and tail < DRIFT_ALPHA:
            reasons.append(
                f"the {label}% interval missed {misses[label]} of the last {len(held)} "
                f"months (chance of that many or more: {tail:.3f})"
            )
    return {
        **status,
        "status": m.DRIFT_WARNING if reasons else m.DRIFT_OK,
        "reasons": reasons,
        "recent_rmse_clp_per_l": rmse,
        "promised_rmse_clp_per_l": float(promised_rmse),
        "rmse_limit_clp_per_l": limit,
        "interval_misses": misses,
    }


@dataclass(frozen=True)
class TrackRecord:
    """The scored published forecasts, their summary by horizon and the drift check."""

    rows: pd.DataFrame
    summary: dict[str, Any]
    drift: dict[str, Any]

    def metrics(self) -> dict[str, Any]:
        """What goes into metrics.json: ``track_record`` and ``drift``."""
        rows = self.rows
        origins = f"{rows[ORIGIN].min():%Y-%m}..{rows[ORIGIN].max():%Y-%m}" if len(rows) else None
        block = {"runs": int(rows[RUN_ID].nunique()), "origins": origins, "horizons": self.summary}
        return {m.TRACK_RECORD: block, m.DRIFT: self.drift}


def evaluate(
    published: pd.DataFrame, price: pd.Series, promised_rmse: float, levels: tuple[float, ...]
) -> TrackRecord:
    rows = score(published, price, levels)
    return TrackRecord(rows, summarize(rows, levels), drift_status(rows, promised_rmse, levels))


def describe_track_record(block: Any) -> str:
    """metrics.json's ``track_record`` in words: ``published 1-month forecasts so far: 6,
    RMSE 7.10 CLP/L, 80% interval held 5 of 6``."""
    one = (block.get("horizons") or {}).get("1") if isinstance(block, dict) else None
    if not isinstance(one, dict) or not one.get("count"):
        return "no published forecast has met its actual price yet"
    count, rmse = one["count"], one.get(m.RMSE)
    text = f"published 1-month forecasts so far: {count}"
    if isinstance(rmse, int | float):
        text += f", RMSE {rmse:.2f} {layout.UNIT}"
    for label, share in (one.get("inside") or {}).items():
        if isinstance(share, int | float):
            text += f", {label}% interval held {round(share * count)} of {count}"
            break
    return text
