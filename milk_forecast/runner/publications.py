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
    PUBLISHED_BY_OPERATOR,
    PUBLISHED_BY_PIPELINE,
    RUN_ID_EXAMPLE,
    SUCCEEDED,
    ContractError,
    is_valid_run_id,
    read_predictions,
    read_predictions_json,
    read_publications,
    read_run_record,
)
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.run_folder import list_runs, publish_latest, run_dir_for
from milk_forecast.runner.signals import deferred_signals

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


class PublishError(ValueError):
    """A run that cannot be made the served one (unknown, failed, incomplete, unservable)."""


def publish_existing(runs_dir: Path, run_id: str) -> dict[str, Any]:
    """Make an earlier run the served one: ``run_pipeline.py --publish RUN_ID``.

    The run is checked exactly as the API checks a run it is about to serve (its
    ``run.json`` says succeeded, its ``metrics.json`` and ``predictions.json`` pass the
    contract and agree); then ``LATEST`` is replaced atomically, with SIGINT/SIGTERM held
    back, and the publication is logged. Returns the publication record.
    """
    from milk_forecast.service.guard import RefusedError, RunsFolder
    from milk_forecast.service.served_run import load_served_run

    if not is_valid_run_id(run_id):
        raise PublishError(f"{run_id!r} is not a run id (like {RUN_ID_EXAMPLE!r})")
    if not (Path(runs_dir) / run_id).is_dir():
        raise PublishError(f"there is no run {run_id} in {runs_dir} (see --list)")
    try:
        load_served_run(RunsFolder(Path(runs_dir)), run_id)
    except RefusedError as exc:
        raise PublishError(f"run {run_id} cannot be served: {exc}") from None
    with deferred_signals():
        publish_latest(runs_dir, run_id)
    return append_publication(runs_dir, run_id, PUBLISHED_BY_OPERATOR)


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
