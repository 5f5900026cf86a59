"""The publication log, and the forecasts that were published.

Every time a run becomes the served one (the pipeline publishing its run, or an operator's
``--publish RUN_ID``), a line ``{"run_id", "published_at", "by"}`` is appended to
``runs/publications.jsonl`` (read with ``contracts.read_publications``). The track record
scores what was actually served, so it reads the forecasts of the published runs from
here. Runs that succeeded before the log existed were each published when they finished
(LATEST always named the newest succeeded run then) and count as such, unless the log
holds their publication by the pipeline.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from milk_forecast.contracts import (
    FORECAST,
    HORIZON,
    KIND,
    MONTH,
    PREDICTIONS_FILE,
    PREDICTIONS_JSON,
    PUBLICATIONS_FILE,
    PUBLISHED_BY_PIPELINE,
    SUCCEEDED,
    ContractError,
    read_predictions,
    read_predictions_json,
    read_publications,
    read_run_record,
)
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.run_folder import list_runs, run_dir_for

if TYPE_CHECKING:
    import pandas as pd

Log = Callable[[str], None]


def append_publication(runs_dir: Path, run_id: str, by: str) -> dict[str, Any]:
    """Append one publication line (one ``write`` in append mode, then fsync)."""
    entry = {"run_id": run_id, "published_at": isoformat(utc_now()), "by": by}
    fd = os.open(Path(runs_dir) / PUBLICATIONS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return entry


def publication_history(runs_dir: Path, log: Log = print) -> list[dict[str, Any]]:
    """Every publication, oldest first: the runs that succeeded before the log, then the log."""
    entries, notes = read_publications(runs_dir)
    for note in notes:
        log(f"publication log: {note}")
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
    """The forecast rows of every published run, with its id, publication time and origin.

    A published run that is no longer a succeeded run with readable predictions is left
    out with a log line naming it and why.
    """
    import pandas as pd

    frames = []
    for entry in publication_history(runs_dir, log):
        try:
            forecasts = forecast_rows(run_dir_for(runs_dir, entry["run_id"]))
        except ContractError as exc:
            log(f"track record: run {entry['run_id']} left out: {exc}")
            continue
        frames.append(forecasts.assign(run_id=entry["run_id"], published_at=entry["published_at"]))
    if not frames:
        return pd.DataFrame(columns=["run_id", "published_at", "origin", MONTH, HORIZON])
    return pd.concat(frames, ignore_index=True)


def forecast_rows(run_dir: Path) -> pd.DataFrame:
    """The forecast rows of a succeeded run (predictions.json, else the parquet of older runs).

    ``origin`` is the month before the first forecast month; runs from before the horizon
    path have one forecast row, horizon 1.
    """
    import pandas as pd

    record = read_run_record(run_dir)
    if record["status"] != SUCCEEDED:
        raise ContractError(f"{run_dir}: its status is {record['status']!r}")
    if (run_dir / PREDICTIONS_JSON).is_file():
        rows = pd.DataFrame(read_predictions_json(run_dir / PREDICTIONS_JSON)["rows"])
        rows[MONTH] = pd.to_datetime(rows[MONTH], format="%Y-%m")
    else:
        rows = read_predictions(run_dir / PREDICTIONS_FILE)
    rows = rows[rows[KIND] == FORECAST].sort_values(MONTH, ignore_index=True)
    if rows.empty:
        raise ContractError(f"{run_dir}: no forecast row")
    if HORIZON not in rows or rows[HORIZON].isna().all():
        rows[HORIZON] = range(1, len(rows) + 1)
    rows[HORIZON] = rows[HORIZON].astype("int64")
    return rows.assign(origin=rows[MONTH].iloc[0] - pd.DateOffset(months=1))
