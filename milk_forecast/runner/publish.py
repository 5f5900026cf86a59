"""``run_pipeline.py --publish RUN_ID``: make an earlier run the served one (a rollback).

The run is checked exactly as the service checks a run it is about to serve
(``run_folder.servable``); then ``LATEST`` is replaced atomically with SIGINT/SIGTERM held
back, and the publication is logged.
"""

from __future__ import annotations

from pathlib import Path

from milk_forecast.run_folder.layout import RUN_ID_EXAMPLE, RunFolderError, is_valid_run_id
from milk_forecast.run_folder.publications import PUBLISHED_BY_OPERATOR
from milk_forecast.run_folder.servable import load_servable
from milk_forecast.run_folder.write import append_publication, staged_latest
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.signals import deferred_signals


class PublishError(ValueError):
    """A run that cannot be made the served one (unknown, failed, incomplete, unservable)."""


def publication(run_id: str, by: str) -> dict[str, str]:
    """A line of the publication log: the run, now, and who published it."""
    return {"run_id": run_id, "published_at": isoformat(utc_now()), "by": by}


def publish_existing(runs_dir: Path, run_id: str) -> dict[str, str]:
    """Serve the earlier run ``run_id``; returns the publication logged."""
    if not is_valid_run_id(run_id):
        raise PublishError(f"{run_id!r} is not a run id (like {RUN_ID_EXAMPLE!r})")
    if not (Path(runs_dir) / run_id).is_dir():
        raise PublishError(f"there is no run {run_id} in {runs_dir} (see --list)")
    try:
        load_servable(Path(runs_dir), run_id)
    except RunFolderError as exc:
        raise PublishError(f"run {run_id} cannot be served: {exc}") from None
    entry = publication(run_id, PUBLISHED_BY_OPERATOR)
    with deferred_signals(), staged_latest(runs_dir, run_id) as commit:
        commit()
    append_publication(runs_dir, entry)
    return entry
