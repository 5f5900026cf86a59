"""Publishing: a run that just completed, or an earlier one (``--publish RUN_ID``, a rollback)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import record as run_record
from milk_forecast.run_folder.layout import RUN_ID_EXAMPLE, RunFolderError, is_valid_run_id
from milk_forecast.run_folder.metrics import DRIFT, FORECAST_PATH, TRACK_RECORD
from milk_forecast.run_folder.publication import PUBLISHED_BY_OPERATOR, PUBLISHED_BY_PIPELINE
from milk_forecast.run_folder.servable import load_servable, read_products
from milk_forecast.run_folder.write import output_digests, staged_publication
from milk_forecast.runner import state as run_state
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.options import ALLOW_SYNTHETIC_FLAG
from milk_forecast.runner.plan import served_run
from milk_forecast.runner.signals import RunInterrupted, deferred_signals
from milk_forecast.runner.state import RunContext, RunOutcome


class PublishError(ValueError):
    """A run that cannot be made the served one (unknown, failed, incomplete, unservable, or
    synthetic over real)."""


class PublicationError(Exception):
    """``LATEST`` and the publication log could not be written; neither changed."""


def complete_run(context: RunContext, *, allow_synthetic_over_real: bool = False) -> RunOutcome:
    """After the last stage: verify the products, record their sha256 (run.json ``outputs``),
    decide publication, write the report, publish."""
    try:
        metrics = read_products(context.run_dir, context.run_dir.parent)[0]
        for key in ("headline", "forecast", FORECAST_PATH, TRACK_RECORD, DRIFT):
            context.record[key] = metrics.get(key)
        context.record[run_record.OUTPUTS] = output_digests(context.run_dir)  # what the run made
        refusal = None
        if not allow_synthetic_over_real:
            refusal = publication_refusal(context.plan.runs_dir, context.record)
        run_state.mark_finished(context.record, run_record.SUCCEEDED)
        context.record[run_record.PUBLISHED] = refusal is None
        context.record[run_record.NOT_PUBLISHED_REASON] = refusal
        run_state.write_report(context)
    except RunFolderError as exc:
        return run_state.fail_run(
            context, run_state.StageFailure("verify products", "", type(exc).__name__, str(exc))
        )
    except OSError as exc:
        return run_state.fail_run(context, run_state.failure_of(context, exc, "complete"))
    except BaseException as exc:  # interrupted: never leave "running"
        run_state.fail_run(context, run_state.failure_of(context, exc, "complete"))
        raise
    return publish_run(context)


def publication_refusal(runs_dir: Path, record: Mapping[str, Any]) -> str | None:
    """Why a succeeded run must not replace the served one, or None to publish it: a
    forgotten ``--data-dir`` or mount must not put made-up prices online."""
    if run_record.data_source(record.get(run_record.SYNTHETIC_KEY)) != run_record.SYNTHETIC_SOURCE:
        return None
    served_id, served = served_run(runs_dir)
    if run_record.data_source(served.get(run_record.SYNTHETIC_KEY)) != run_record.REAL_SOURCE:
        return None
    return (
        f"it ran on the synthetic sample, and the served run {served_id} was made from "
        "real data: a synthetic run never replaces a real one unless asked to"
    )


def publish_run(context: RunContext) -> RunOutcome:
    """Write run.json ``succeeded`` and, when published, ``LATEST`` and the log's line, as one
    step that no SIGINT/SIGTERM splits (``publication_step``).

    ``LATEST`` is written beside its place and the line appended first (a full disk, or a log
    that is not a regular file, fails the run before run.json says ``succeeded``), then
    run.json, then ``LATEST`` is renamed into place. A rename that fails takes the line back
    and puts run.json back to ``failed``: ``LATEST`` and the log always agree.
    """
    if not context.record[run_record.PUBLISHED]:
        context.save()
        return context.outcome(run_record.SUCCEEDED)
    entry = publication(context.run_id, PUBLISHED_BY_PIPELINE)
    with publication_step(context.run_id) as published:
        try:
            with staged_publication(context.plan.runs_dir, entry) as commit:
                context.save()
                commit()
        except (OSError, RunFolderError) as exc:
            return run_state.fail_run(context, not_published(exc))
        published()
    return context.outcome(run_record.SUCCEEDED)


def publication(run_id: str, by: str) -> dict[str, str]:
    return {"run_id": run_id, "published_at": isoformat(utc_now()), "by": by}


@contextmanager
def publication_step(run_id: str) -> Iterator[Callable[[], None]]:
    """SIGINT and SIGTERM held back for the block (``deferred_signals``), which calls the
    yielded ``published()`` once ``run_id`` is published. A stop held back is raised after
    it as ``RunInterrupted``, in one line saying whether the run was published."""
    done = False

    def published() -> None:
        nonlocal done
        done = True

    try:
        with deferred_signals():
            yield published
    except KeyboardInterrupt as exc:
        if done:
            when = f"after run {run_id} was published (LATEST and the log name it)"
        else:
            when = f"before run {run_id} was published (LATEST and the log unchanged)"
        raise RunInterrupted(f"{exc or 'interrupted'}, {when}") from None


def not_published(exc: Exception) -> run_state.StageFailure:
    """The failure of a publication that could not be written: LATEST and the log unchanged."""
    return run_state.StageFailure(
        "publish", "", type(exc).__name__, f"LATEST not replaced: {run_state.error_message(exc)}"
    )


def publish_existing(
    runs_dir: Path, run_id: str, *, allow_synthetic_over_real: bool = False
) -> dict[str, str] | None:
    """Serve the earlier run ``run_id``: the publication logged, or None when it is already
    the served run (nothing written); else a ``PublishError`` or ``PublicationError``."""
    if not is_valid_run_id(run_id):
        raise PublishError(f"{run_id!r} is not a run id (like {RUN_ID_EXAMPLE!r})")
    if not (runs_dir / run_id).is_dir():
        raise PublishError(f"there is no run {run_id} in {runs_dir} (see --list)")
    try:
        servable = load_servable(runs_dir, run_id)
    except RunFolderError as exc:
        raise PublishError(f"run {run_id} cannot be served: {exc}") from None
    if served_run(runs_dir)[0] == run_id:
        return None
    refusal = None if allow_synthetic_over_real else publication_refusal(runs_dir, servable.record)
    if refusal is not None:
        raise PublishError(f"run {run_id} not published: {refusal} ({ALLOW_SYNTHETIC_FLAG})")
    entry = publication(run_id, PUBLISHED_BY_OPERATOR)
    with publication_step(run_id) as published:
        try:
            with staged_publication(runs_dir, entry) as commit:
                commit()
        except (OSError, RunFolderError) as exc:
            raise PublicationError(not_published(exc).message) from None
        published()
    return entry
