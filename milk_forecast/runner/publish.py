"""Publishing: a run that just completed, or an earlier one (``--publish RUN_ID``, a rollback).

A run on the synthetic sample never replaces a served run made from real data unless asked
to. ``publish_existing`` checks a run exactly as the service checks a run it is about to
serve (``run_folder.servable``). Every publication is appended to the publication log.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.layout import (
    PUBLICATIONS_FILE,
    RUN_ID_EXAMPLE,
    RunFolderError,
    is_valid_run_id,
)
from milk_forecast.run_folder.metrics import DRIFT, FORECAST_PATH, TRACK_RECORD
from milk_forecast.run_folder.publication import PUBLISHED_BY_OPERATOR, PUBLISHED_BY_PIPELINE
from milk_forecast.run_folder.record import (
    NOT_PUBLISHED_REASON,
    PUBLISHED,
    REAL_SOURCE,
    SUCCEEDED,
    SYNTHETIC_KEY,
    SYNTHETIC_SOURCE,
    data_source,
)
from milk_forecast.run_folder.servable import load_servable, read_products
from milk_forecast.run_folder.write import append_publication, staged_latest
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.plan import served_run
from milk_forecast.runner.signals import deferred_signals
from milk_forecast.runner.state import (
    RunContext,
    RunOutcome,
    StageFailure,
    error_text,
    fail_run,
    failure_of,
    mark_finished,
    write_report,
)


class PublishError(ValueError):
    """A run that cannot be made the served one (unknown, failed, incomplete, unservable)."""


def complete_run(context: RunContext, *, allow_synthetic_over_real: bool = False) -> RunOutcome:
    """After the last stage: verify the products, decide publication, write the report, publish."""
    try:
        metrics = read_products(context.run_dir, context.run_dir.parent)[0]
        for key in ("headline", "forecast", FORECAST_PATH, TRACK_RECORD, DRIFT):
            context.record[key] = metrics.get(key)
        refusal = None
        if not allow_synthetic_over_real:
            refusal = publication_refusal(context.plan.runs_dir, context.record)
        mark_finished(context, SUCCEEDED)
        context.record[PUBLISHED] = refusal is None
        context.record[NOT_PUBLISHED_REASON] = refusal
        write_report(context)
    except RunFolderError as exc:
        return fail_run(context, StageFailure("verify products", "", type(exc).__name__, str(exc)))
    except OSError as exc:
        return fail_run(context, failure_of(context, exc, "complete"))
    except BaseException as exc:  # interrupted: never leave "running"
        fail_run(context, failure_of(context, exc, "complete"))
        raise
    return publish_run(context)


def publication_refusal(runs_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why a succeeded run must not replace the served one, or None to publish it: a
    forgotten ``--data-dir`` or mount must not put made-up prices online."""
    if data_source(record.get(SYNTHETIC_KEY)) != SYNTHETIC_SOURCE:
        return None
    served_id, served = served_run(runs_dir)
    if data_source(served.get(SYNTHETIC_KEY)) != REAL_SOURCE:
        return None
    return (
        f"it ran on the synthetic sample, and the served run {served_id} was made from "
        "real data: a synthetic run never replaces a real one unless asked to"
    )


def publish_run(context: RunContext) -> RunOutcome:
    """Write run.json ``succeeded`` and, when published, ``LATEST``, as one step that no
    SIGINT/SIGTERM splits (``deferred_signals``).

    ``LATEST`` is written beside its place first (taking the disk space), then run.json,
    then ``LATEST`` is renamed into place: a full disk fails the run before run.json says
    ``succeeded``. A rename that fails puts run.json back to ``failed``.
    """
    runs_dir, run_id = context.plan.runs_dir, context.run_id
    with deferred_signals():
        try:
            if not context.record[PUBLISHED]:
                context.save()
                return RunOutcome(SUCCEEDED, run_id, context.run_dir, context.record)
            with staged_latest(runs_dir, run_id) as commit_latest:
                context.save()
                commit_latest()
        except OSError as exc:
            return fail_run(context, failure_of(context, exc, "publish"))
    try:
        append_publication(runs_dir, publication(run_id, PUBLISHED_BY_PIPELINE))
    except (OSError, RunFolderError) as exc:  # LATEST already moved: only a warning
        context.log(f"warning: {runs_dir / PUBLICATIONS_FILE} not updated: {error_text(exc)}")
    return RunOutcome(SUCCEEDED, run_id, context.run_dir, context.record)


def publication(run_id: str, by: str) -> dict[str, str]:
    return {"run_id": run_id, "published_at": isoformat(utc_now()), "by": by}


def publish_existing(runs_dir: Path, run_id: str) -> dict[str, str]:
    """Serve the earlier run ``run_id``; returns the publication logged."""
    if not is_valid_run_id(run_id):
        raise PublishError(f"{run_id!r} is not a run id (like {RUN_ID_EXAMPLE!r})")
    if not (runs_dir / run_id).is_dir():
        raise PublishError(f"there is no run {run_id} in {runs_dir} (see --list)")
    try:
        load_servable(runs_dir, run_id)
    except RunFolderError as exc:
        raise PublishError(f"run {run_id} cannot be served: {exc}") from None
    entry = publication(run_id, PUBLISHED_BY_OPERATOR)
    with deferred_signals(), staged_latest(runs_dir, run_id) as commit:
        commit()
    append_publication(runs_dir, entry)
    return entry
