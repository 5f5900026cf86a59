"""The forecasts that were served, for the track record: the published runs' forecasts, found
through the publication log. Runs that succeeded before the log existed count as published
when they finished, unless the log holds their publication by the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from milk_forecast.run_folder.layout import MONTH, PREDICTIONS_JSON, RunFolderError, run_dir_for
from milk_forecast.run_folder.predictions import FORECAST, HORIZON, KIND, read_predictions_json
from milk_forecast.run_folder.publication import PUBLISHED_BY_PIPELINE, read_publications
from milk_forecast.run_folder.record import SUCCEEDED, list_runs, read_run_record

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
    earlier = [
        {
            "run_id": s.run_id,
            "published_at": s.record["finished_at"],
            "by": "pipeline (before the log)",
        }
        for s in reversed(list_runs(runs_dir))
        if s.status == SUCCEEDED
        and s.run_id not in logged
        and isinstance(s.record.get("finished_at"), str)
        and (first is None or s.record["finished_at"] < first)
    ]
    return sorted(earlier, key=lambda e: e["published_at"]) + entries


def published_forecasts(runs_dir: Path, log: Log = print) -> pd.DataFrame:
    """The forecast rows of every published run, with its id, origin and last publication time
    (the one that counts; each run is read once however often the log names it); a run no
    longer succeeded with readable predictions is left out with a line saying why."""
    history, frames = publication_history(runs_dir, log), []
    last = {entry["run_id"]: index for index, entry in enumerate(history)}
    for entry in (history[index] for index in sorted(last.values())):
        try:
            forecasts = forecast_rows(run_dir_for(runs_dir, entry["run_id"]))
        except RunFolderError as exc:
            log(f"track record: run {entry['run_id']} left out: {exc}")
            continue
        frames.append(forecasts.assign(run_id=entry["run_id"], published_at=entry["published_at"]))
    if not frames:
        return pd.DataFrame(columns=["run_id", "published_at", "origin", MONTH, HORIZON])
    return pd.concat(frames, ignore_index=True)


def forecast_rows(run_dir: Path) -> pd.DataFrame:
    """The forecast rows of a succeeded run; ``origin`` is the month before the first."""
    record = read_run_record(run_dir)
    if record["status"] != SUCCEEDED:
        raise RunFolderError(f"{run_dir}: its status is {record['status']!r}")
    rows = pd.DataFrame(read_predictions_json(run_dir / PREDICTIONS_JSON)["rows"])
    rows[MONTH] = pd.to_datetime(rows[MONTH], format="%Y-%m")
    rows = rows[rows[KIND] == FORECAST].sort_values(MONTH, ignore_index=True)
    if rows.empty:
        raise RunFolderError(f"{run_dir}: no forecast row")
    rows[HORIZON] = rows[HORIZON].astype("int64")
    return rows.assign(origin=rows[MONTH].iloc[0] - pd.DateOffset(months=1))
