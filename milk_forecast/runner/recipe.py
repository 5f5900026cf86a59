"""The run recipe: one pipeline run as named steps, the same for every caller.

    plan (parameters checked, inputs hashed, fingerprint)
    -> runs left running by a process that is gone marked failed (abandoned)
    -> skipped when the served run has the same fingerprint | start (folder, run.json)
    -> each stage on a kernel started ahead -> complete (verify, publish) | fail

``run_pipeline.py`` calls it once or on ``--schedule``; the Prefect flow passes ``RunSteps``
that run each step as a task, as papermill takes an engine. A run that fails at any step
(a full disk included) is marked ``failed`` and never touches ``LATEST``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from milk_forecast.runner import state as run_state
from milk_forecast.runner.execute import run_stage
from milk_forecast.runner.kernels import StageKernels
from milk_forecast.runner.plan import RunPlan, plan_run, served_run_with
from milk_forecast.runner.publish import complete_run
from milk_forecast.runner.stages import NOTEBOOKS_DIR, Stage
from milk_forecast.runner.state import RunContext, RunOutcome


class RunSteps:
    """How the recipe executes its steps. A subclass may wrap each (in an orchestrator's
    task, say) but keeps its contract: what it returns, and ``StageFailure`` for a stage."""

    def plan(
        self, data_dir: Path, runs_dir: Path, overrides: Mapping[str, str], notebooks_dir: Path
    ) -> RunPlan:
        return plan_run(data_dir, runs_dir, overrides, notebooks_dir)

    def stage(self, context: RunContext, stage: Stage, kernels: StageKernels) -> None:
        kernel = kernels.take(stage)
        try:
            run_stage(context, stage, kernel)
        finally:
            kernel.stop()

    def complete(self, context: RunContext, allow_synthetic_over_real: bool) -> RunOutcome:
        return complete_run(context, allow_synthetic_over_real=allow_synthetic_over_real)


def run_pipeline(
    data_dir: Path,
    runs_dir: Path,
    overrides: Mapping[str, str] | None = None,
    *,
    force: bool = False,
    notebooks_dir: Path = NOTEBOOKS_DIR,
    log: run_state.Log = print,
    allow_synthetic_over_real: bool = False,
    steps: RunSteps | None = None,
) -> RunOutcome:
    """Run the four stages once; a failing stage is an outcome, not an exception.
    ``PipelineError``: bad parameters or notebooks (nothing written); ``RunRecordError``: the
    run folder or run.json cannot be written; ``KeyboardInterrupt`` once the run is failed."""
    steps = steps or RunSteps()
    plan = steps.plan(data_dir, runs_dir, overrides or {}, notebooks_dir)
    for run_id in run_state.settle_abandoned(plan.runs_dir, "the next run"):
        log(f"run {run_id} was left running by a process that is gone: marked failed (abandoned)")
    served = None if force else served_run_with(plan.runs_dir, plan.fingerprint)
    if served is not None:
        return RunOutcome(run_state.SKIPPED, served, plan.runs_dir / served)
    context = run_state.start_run(plan, log)
    try:
        with StageKernels(plan.stages, context.run_dir) as kernels:
            for stage in plan.stages:
                steps.stage(context, stage, kernels)
    except run_state.StageFailure as failure:
        return run_state.fail_run(context, failure)
    except OSError as exc:  # a full disk, a file that vanished: the run failed
        return run_state.fail_run(context, run_state.failure_of(context, exc))
    except BaseException as exc:  # KeyboardInterrupt, RunInterrupted: never leave "running"
        run_state.fail_run(context, run_state.failure_of(context, exc))
        raise
    return steps.complete(context, allow_synthetic_over_real)
