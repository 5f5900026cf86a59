"""The pipeline as one Prefect flow: the runner's own steps, a task per stage.

The flow calls the recipe of ``runner/pipeline.py`` in the order ``run_pipeline`` does,
under the same lock (``runner/lock.py``) for the whole run::

    RunsLock -> plan (task) -> skipped_outcome -> start_run
    -> one task per stage: run_stage on StageKernels (retried as configured)
    -> publish (task): complete_run | fail_run

so a flow run and ``run_pipeline.py`` write the same run folders, skip the same
unchanged runs and publish ``LATEST`` the same way (atomically, only after success).
A failed stage fails its task with ``StageFailure.describe()`` (stage, notebook, cell,
exception) and, once its retries are spent, the flow; a flow run that is cancelled or
crashes marks its run ``failed`` and never touches ``LATEST``.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.exceptions import TerminationSignal
from prefect.logging import get_run_logger
from prefect.runtime import flow_run as current_flow_run
from prefect.utilities.annotations import quote

from milk_forecast.data import raw
from milk_forecast.flows.artifacts import link_notebook, publish_summary
from milk_forecast.run_folder.record import (
    FAILED,
    NOT_PUBLISHED_REASON,
    PUBLISHED,
    RUNNING,
    list_runs,
)
from milk_forecast.runner.lock import RunsLock
from milk_forecast.runner.pipeline import (
    RunContext,
    RunOutcome,
    RunPlan,
    StageFailure,
    StageKernels,
    complete_run,
    fail_run,
    interrupted,
    plan_run,
    run_stage,
    skipped_outcome,
    start_run,
)
from milk_forecast.runner.signals import HANDLED_SIGNALS, Interrupts, RunInterrupted
from milk_forecast.runner.stages import NOTEBOOKS_DIR, PROJECT_ROOT, Stage

FLOW_NAME = "milk-forecast-pipeline"


class RunFailed(Exception):
    """A stage, or the check of the final products, failed: ``StageFailure.describe()``.

    Holds the failure as its record (``StageFailure.as_record()``) so that it pickles,
    as Prefect may store a failed state's exception.
    """

    def __init__(self, failure: dict[str, Any]) -> None:
        self.failure = dict(failure)
        super().__init__(self.stage_failure().describe())

    def __reduce__(self) -> tuple[type[RunFailed], tuple[dict[str, Any]]]:
        return type(self), (self.failure,)

    def stage_failure(self) -> StageFailure:
        return StageFailure(**self.failure)


class HostSignals(Interrupts):
    """Keeps the SIGINT/SIGTERM handlers of the host (Prefect's engine, or the CLI's).

    nbclient removes signal handlers after starting a kernel (see ``runner.signals``);
    ``reinstall`` puts back those found on entering, so a cancellation (SIGTERM from
    a Prefect runner or worker) still reaches the flow as an exception while a notebook
    runs, and the run is marked failed.
    """

    def __enter__(self) -> HostSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {signum: signal.getsignal(signum) for signum in HANDLED_SIGNALS}
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.reinstall()

    def reinstall(self) -> None:
        for signum, handler in self._previous.items():
            if handler is not None:
                signal.signal(signum, handler)


# --- the tasks -----------------------------------------------------------------------
# Tasks run in the flow's thread and get the run's objects as they are: ``quote`` keeps
# Prefect from walking them, NO_CACHE from hashing them, and nothing is persisted.


@task(name="plan", cache_policy=NO_CACHE, persist_result=False)
def plan_task(
    data_dir: Path, runs_dir: Path, overrides: dict[str, str], notebooks_dir: Path
) -> RunPlan:
    """Parameters resolved and checked against their rules, inputs, fingerprint."""
    return plan_run(data_dir, runs_dir, overrides, notebooks_dir)


@task(cache_policy=NO_CACHE, persist_result=False)
def stage_task(context: RunContext, stage: Stage, stage_kernels: StageKernels) -> None:
    """One stage on its kernel (a fresh one on a retry); its executed notebook is linked."""
    kernel = stage_kernels.take(stage)
    try:
        run_stage(context, stage, kernel)
    except StageFailure as failure:
        end_failed_attempt(context)
        link_last_notebook(context)
        raise RunFailed(failure.as_record()) from None
    finally:
        stage_kernels.release(kernel)
    link_last_notebook(context)


@task(name="publish", cache_policy=NO_CACHE, persist_result=False)
def publish_task(context: RunContext, allow_synthetic_over_real: bool) -> RunOutcome:
    """Verify the products, mark the run succeeded, write its report, publish LATEST."""
    return complete_run(context, allow_synthetic_over_real=allow_synthetic_over_real)


def end_failed_attempt(context: RunContext) -> None:
    """The attempt's entry in run.json is ``failed``: a retry appends an entry of its own."""
    if context.record["stages"] and context.record["stages"][-1]["status"] == RUNNING:
        context.record["stages"][-1]["status"] = FAILED
        context.save()


def link_last_notebook(context: RunContext) -> None:
    entry = context.record["stages"][-1]
    link_notebook(context.run_dir, entry["notebook"], entry["status"])


# --- the flow --------------------------------------------------------------------------


def resolve_dirs(data_dir: str | None, runs_dir: str | None) -> tuple[Path, Path]:
    """The data and runs folders, with ``run_pipeline.py``'s defaults (data/, runs/)."""
    data = Path(data_dir) if data_dir else raw.default_data_dir(PROJECT_ROOT)
    runs = Path(runs_dir) if runs_dir else PROJECT_ROOT / "runs"
    return data.resolve(), runs.resolve()


def outcome_summary(outcome: RunOutcome) -> dict[str, Any]:
    """The flow's result: what happened, to which run, with its figures (JSON-ready)."""
    return {
        "status": outcome.status,
        "run_id": outcome.run_id,
        "run_dir": str(outcome.run_dir),
        "synthetic_sample": outcome.record.get("synthetic_sample"),
        "headline": outcome.record.get("headline"),
        "forecast": outcome.record.get("forecast"),
        "published": outcome.record.get(PUBLISHED),
        "not_published_reason": outcome.record.get(NOT_PUBLISHED_REASON),
    }


def fail_abandoned_runs(flow: Any, flow_run: Any, state: Any) -> None:
    """Hook for a cancelled or crashed flow run: its run left ``running`` becomes ``failed``.

    Runs in the Prefect runner or worker when the flow's process was killed before it
    could record the failure itself: a run started since this flow run began, whose
    process is gone (``run_folder.effective_status``), is failed with the state's reason.
    """
    started = flow_run.start_time or flow_run.expected_start_time
    if started is None:
        return
    runs_dir = resolve_dirs(None, flow_run.parameters.get("runs_dir"))[1]
    reason = f"flow run {state.name.lower()}: {state.message or 'no message'}"
    for summary in list_runs(runs_dir):
        record = summary.record
        if record.get("status") != RUNNING or summary.status == RUNNING:
            continue  # finished, or its process is still working
        if not started_since(record, started):
            continue  # an older run, not this flow run's
        plan = RunPlan(Path(str(record.get("data_dir"))), runs_dir, [], {}, {}, "")
        context = RunContext(plan, summary.run_id, summary.path, record, print)
        fail_run(context, interrupted(context, RunInterrupted(reason)))


def started_since(record: dict[str, Any], moment: datetime) -> bool:
    """Whether run.json's ``started_at`` is at or after ``moment`` (False when unreadable)."""
    try:
        return datetime.fromisoformat(str(record.get("started_at"))) >= moment
    except (TypeError, ValueError):  # malformed, or naive against aware
        return False


@flow(
    name=FLOW_NAME,
    description="Four notebooks into a run folder; publishes runs/LATEST after success.",
    persist_result=False,
    on_cancellation=[fail_abandoned_runs],
    on_crashed=[fail_abandoned_runs],
)
def milk_forecast_pipeline(
    data_dir: str | None = None,
    runs_dir: str | None = None,
    parameters: dict[str, str] | None = None,
    force: bool = False,
    wait: bool = False,
    stage_retries: int = 0,
    stage_retry_delay: float = 30.0,
    notebooks_dir: str | None = None,
    allow_synthetic_over_real: bool = False,
) -> dict[str, Any]:
    """One pipeline run, as ``run_pipeline.py`` does it.

    ``parameters``: notebook parameters as NAME -> VALUE strings, checked like ``-p``;
    ``force``: run even when the served run was made from the same inputs;
    ``wait``: wait for another pipeline holding the runs folder instead of failing;
    ``stage_retries``: times a failed stage is run again, ``stage_retry_delay`` apart;
    ``notebooks_dir``: copies of the four notebooks to run instead of notebooks/;
    ``allow_synthetic_over_real``: publish a run on the synthetic sample even over a served
    run made from real data (otherwise it is kept, not published).
    """
    logger = get_run_logger()
    data, runs = resolve_dirs(data_dir, runs_dir)
    notebooks = Path(notebooks_dir).resolve() if notebooks_dir else NOTEBOOKS_DIR
    command = f"prefect flow run {current_flow_run.name} ({current_flow_run.id})"
    with RunsLock(runs, wait=wait, command=command, log=logger.info), HostSignals() as signals:
        plan = plan_task(data, runs, dict(parameters or {}), notebooks)
        skipped = None if force else skipped_outcome(plan)
        if skipped is not None:
            logger.info(
                f"nothing to do: the served run {skipped.run_id} was made from the same "
                "inputs, notebooks, package code and parameters; force=True reruns"
            )
            return outcome_summary(skipped)
        context = start_run(plan, logger.info, signals)
        outcome = run_stages(context, stage_retries, stage_retry_delay, allow_synthetic_over_real)
    if outcome.failure is not None:  # the products did not pass their final check
        raise RunFailed(outcome.failure.as_record())
    publish_summary(outcome.run_dir, outcome.record)
    return outcome_summary(outcome)


def run_stages(
    context: RunContext, retries: int, retry_delay: float, allow_synthetic_over_real: bool
) -> RunOutcome:
    """A task per stage, then the publish task; a failure or a stop marks the run failed."""
    try:
        with StageKernels(context) as stage_kernels:
            for stage in context.plan.stages:
                stage_run = stage_task.with_options(
                    name=stage.name, retries=retries, retry_delay_seconds=retry_delay
                )
                stage_run(quote(context), quote(stage), quote(stage_kernels))
        return publish_task(quote(context), allow_synthetic_over_real)
    except RunFailed as exc:
        fail_run(context, exc.stage_failure())
        raise
    except BaseException as exc:  # cancelled (SIGTERM), interrupted, crashed
        reason = exc
        if isinstance(exc, TerminationSignal):  # Prefect's bridge for SIGTERM
            reason = RunInterrupted(f"stopped by {signal.Signals(exc.signal).name}")
        fail_run(context, interrupted(context, reason))
        raise
