"""The pipeline as one Prefect flow: the runner's recipe under the runner's lock, with
``PrefectSteps`` running the plan, each stage (retried as configured, its executed notebook
linked) and the publication as tasks named ``plan``, ``01_extract`` ... ``04_train``,
``publish``; a stage's ``StageFailure`` fails its task and, its retries spent, the flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.logging import get_run_logger
from prefect.runtime import flow_run as current_flow_run
from prefect.utilities.annotations import quote

from milk_forecast.data import raw
from milk_forecast.flows.artifacts import link_file, publish_summary
from milk_forecast.run_folder.record import NOT_PUBLISHED_REASON, PUBLISHED
from milk_forecast.runner import state as run_state
from milk_forecast.runner.clock import isoformat, utc_now
from milk_forecast.runner.kernels import StageKernels
from milk_forecast.runner.lock import RunsLock
from milk_forecast.runner.plan import RunPlan
from milk_forecast.runner.recipe import RunSteps, run_pipeline
from milk_forecast.runner.stages import NOTEBOOKS_DIR, RUNS_DIR, Stage
from milk_forecast.runner.state import RunContext, RunOutcome

DIRECT = RunSteps()

# Tasks run in the flow's thread and get the run's objects as they are: ``quote`` keeps
# Prefect from walking them, NO_CACHE from hashing them, and nothing is persisted.
TASK_OPTIONS: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}
plan_task = task(DIRECT.plan, name="plan", **TASK_OPTIONS)
publish_task = task(DIRECT.complete, name="publish", **TASK_OPTIONS)


@task(**TASK_OPTIONS)
def stage_task(context: RunContext, stage: Stage, kernels: StageKernels) -> None:
    """One stage on its kernel (a fresh one on a retry); its executed notebook is linked."""
    try:
        DIRECT.stage(context, stage, kernels)
    except run_state.StageFailure:
        link_last_notebook(context)
        raise
    link_last_notebook(context)


def link_last_notebook(context: RunContext) -> None:
    entry = context.record["stages"][-1]
    link_file(context.run_dir, entry["notebook"], f"executed notebook ({entry['status']})")


@dataclass
class PrefectSteps(RunSteps):
    """The recipe's steps as Prefect tasks; a failed stage is retried ``retries`` times."""

    retries: int
    retry_delay: float

    def plan(
        self, data_dir: Path, runs_dir: Path, overrides: Mapping[str, str], notebooks_dir: Path
    ) -> RunPlan:
        return plan_task(data_dir, runs_dir, dict(overrides), notebooks_dir)

    def stage(self, context: RunContext, stage: Stage, kernels: StageKernels) -> None:
        attempts = stage_task.with_options(
            name=stage.name, retries=self.retries, retry_delay_seconds=self.retry_delay
        )
        attempts(quote(context), quote(stage), quote(kernels))

    def complete(self, context: RunContext, allow_synthetic_over_real: bool) -> RunOutcome:
        return publish_task(quote(context), allow_synthetic_over_real)


def outcome_summary(outcome: RunOutcome) -> dict[str, Any]:
    """The flow's result: what happened, to which run, with its figures (JSON-ready)."""
    summary = {"status": outcome.status, "run_id": outcome.run_id, "run_dir": str(outcome.run_dir)}
    for key in ("synthetic_sample", "headline", "forecast", PUBLISHED, NOT_PUBLISHED_REASON):
        summary[key] = outcome.record.get(key)
    return summary


def fail_abandoned_runs(flow: Any, flow_run: Any, state: Any) -> None:
    """Hook for a cancelled or crashed flow run, run by Prefect's runner or worker when the
    flow's process was killed first: a run started since the flow run began, left
    ``running`` by a process that is gone, is failed with the state's reason."""
    started = flow_run.start_time or flow_run.expected_start_time
    if started is None:
        return
    runs_dir = Path(flow_run.parameters.get("runs_dir") or RUNS_DIR).resolve()
    reason = f"flow run {state.name.lower()}: {state.message or 'no message'}"
    for summary in run_state.abandoned_runs(runs_dir):
        try:
            if datetime.fromisoformat(str(summary.record.get("started_at"))) < started:
                continue  # an older run, not this flow run's
        except (TypeError, ValueError):  # malformed, or naive against aware
            continue
        run_state.settle_run(summary, "interrupted", reason, finished_at=isoformat(utc_now()))


@flow(
    name="milk-forecast-pipeline",
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
    """One pipeline run, as ``run_pipeline.py`` does it; the parameters are the options of
    ``python -m milk_forecast.flows run`` (see its --help), ``parameters`` the ``-p`` pairs."""
    logger = get_run_logger()
    data = Path(data_dir).resolve() if data_dir else raw.default_data_dir()
    runs = Path(runs_dir or RUNS_DIR).resolve()
    command = f"prefect flow run {current_flow_run.name} ({current_flow_run.id})"
    with RunsLock(runs, wait=wait, command=command, log=logger.info):
        outcome = run_pipeline(
            data,
            runs,
            parameters,
            force=force,
            notebooks_dir=Path(notebooks_dir).resolve() if notebooks_dir else NOTEBOOKS_DIR,
            log=logger.info,
            allow_synthetic_over_real=allow_synthetic_over_real,
            steps=PrefectSteps(stage_retries, stage_retry_delay),
        )
    if outcome.status == run_state.SKIPPED:
        logger.info(f"{outcome.nothing_to_do()}; force=True reruns")
    elif outcome.failure is not None:
        raise outcome.failure
    else:
        publish_summary(outcome.run_dir, outcome.record)
    return outcome_summary(outcome)
