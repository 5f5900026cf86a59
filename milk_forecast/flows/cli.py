"""Run the pipeline's Prefect flow once here, or serve it on a cron schedule.

    python -m milk_forecast.flows run --data-dir ../shared/data --runs-dir runs
    python -m milk_forecast.flows run -p ridge_alpha 0.5 --stage-retries 2
    python -m milk_forecast.flows serve --cron "0 0 * * 0"

``run`` uses the Prefect API configured (PREFECT_API_URL), else a temporary local server
that ends with it (``milk_forecast.flows.server``).
``serve`` needs a Prefect server (``prefect server start``, or Prefect Cloud) named by
PREFECT_API_URL: it registers a deployment with a cron schedule (UTC) there and runs
its flow runs on this machine until stopped (Ctrl-C or SIGTERM). To run on a work pool
instead: ``prefect deploy --all`` (prefect.yaml).

Exit codes of ``run`` (as run_pipeline.py's): 0 success (or nothing to redo), 1 the run
failed, 2 bad command line or parameters, 3 another pipeline holds the runs folder,
130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from contextlib import nullcontext, redirect_stdout
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.record import read_run_record
from milk_forecast.runner import lock, options, schedule, stages
from milk_forecast.runner.output import PipeSafe
from milk_forecast.runner.signals import Interrupts
from milk_forecast.runner.state import SKIPPED, RunOutcome

INSTALL_HINT = "pip install -r requirements.txt -r requirements-prefect.txt"


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="python -m milk_forecast.flows",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = options.Parser(add_help=False)  # the flow's parameters, for run and serve
    options.add_run_options(common, runs_dir_default=None)
    options.add_retry_options(common, "stage", prefix="stage-")
    options.add_retry_options(common, "flow run (each retry a new run folder)")
    commands.add_parser(
        "run", parents=[common], help="run the flow once here", description="Run the flow once."
    )
    serve = commands.add_parser(
        "serve",
        parents=[common],
        help="serve the flow on a cron schedule from this machine",
        description="Register a deployment with a cron schedule and run its flow runs here.",
    )
    serve.add_argument(
        "--cron", required=True, help='5-field UTC cron expression, e.g. "0 0 * * 0"'
    )
    serve.add_argument(
        "--name", default="milk-forecast", help="deployment name (default: milk-forecast)"
    )
    return parser


def flow_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The flow's parameters from the command line; paths made absolute here."""

    def absolute(path: Path | None) -> str | None:
        return str(path.resolve()) if path is not None else None

    return {
        "data_dir": absolute(args.data_dir),
        "runs_dir": absolute(args.runs_dir),
        "parameters": options.parameter_overrides(args.parameter),
        "force": args.force,
        "wait": args.wait,
        "stage_retries": args.stage_retries,
        "stage_retry_delay": args.stage_retry_delay,
        "notebooks_dir": absolute(args.notebooks_dir),
        "allow_synthetic_over_real": args.allow_synthetic_over_real,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        try:
            schedule.parse_cron(args.cron)
        except schedule.CronError as exc:
            parser.error(f"--cron: {exc}")
    # The temporary local server of ``run`` would try to send usage figures to Prefect.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    try:
        options.check_run_arguments(args)
        from milk_forecast.flows import pipeline_flow
    except (options.UsageError, stages.PipelineError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return options.EXIT_USAGE
    except ModuleNotFoundError as exc:
        if exc.name != "prefect":
            raise
        print(f"error: Prefect is not installed: {INSTALL_HINT}", file=sys.stderr)
        return options.EXIT_USAGE
    configured = pipeline_flow.milk_forecast_pipeline.with_options(
        retries=args.retries, retry_delay_seconds=args.retry_delay
    )
    with PipeSafe(sys.stdout) as output, redirect_stdout(output):
        return serve(configured, args) if args.command == "serve" else run(configured, args)


def run(configured: Any, args: argparse.Namespace) -> int:
    """One flow run in this process, on a temporary server of its own when no Prefect API is
    configured (it ends with this process, however it ends); its final state: the exit code."""
    from prefect.settings import PREFECT_API_URL

    from milk_forecast.flows.server import ServerError, temporary_server

    with Interrupts():
        try:
            with temporary_server() if not PREFECT_API_URL.value() else nullcontext():
                state = configured(**flow_parameters(args), return_state=True)
        except KeyboardInterrupt as exc:
            print(f"stopped: {exc or 'interrupted'}", file=sys.stderr)
            return options.EXIT_INTERRUPTED
        except ServerError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return options.EXIT_FAILED
    return report(state)


def report(state: Any) -> int:
    """Print what the flow run did, a completed one as run_pipeline.py does (its run.json read
    back); the exit code for its final state."""
    if state.is_completed():
        summary = state.result()
        run_dir = Path(summary["run_dir"])
        record = read_run_record(run_dir) if summary["status"] != SKIPPED else {}
        outcome = RunOutcome(summary["status"], summary["run_id"], run_dir, record)
        options.summarize(outcome)
        return options.EXIT_NOT_PUBLISHED if outcome.unpublished else options.EXIT_OK
    if state.is_cancelled() or state.is_crashed():
        print(f"stopped: flow run {state.name.lower()}: {state.message}", file=sys.stderr)
        return options.EXIT_INTERRUPTED
    error = state.result(raise_on_failure=False)
    print(f"error: {error}", file=sys.stderr)
    if isinstance(error, lock.LockHeldError):
        return options.EXIT_LOCKED
    if isinstance(error, lock.LockError | stages.PipelineError):
        return options.EXIT_USAGE
    return options.EXIT_FAILED


def serve(configured: Any, args: argparse.Namespace) -> int:
    from prefect.schedules import Cron
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        print(
            "error: serve needs a Prefect server to schedule runs: start one with "
            "`prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api "
            "(or log in to Prefect Cloud)",
            file=sys.stderr,
        )
        return options.EXIT_USAGE
    configured.serve(
        name=args.name,
        schedules=[Cron(args.cron, timezone="UTC")],
        parameters=flow_parameters(args),
    )
    return options.EXIT_OK
