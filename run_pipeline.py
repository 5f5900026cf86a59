#!/usr/bin/env python
"""Run the four notebooks of the milk price pipeline headless, one folder per run.

    python run_pipeline.py                          # the default data, once
    python run_pipeline.py --data-dir ../shared/data
    python run_pipeline.py -p ridge_alpha 0.5
    python run_pipeline.py --schedule "0 0 * * 0" --retries 3 --retry-delay 30
    python run_pipeline.py --list                   # run history, * marks the served run

Exit codes: 0 success (or nothing to redo), 1 the run failed, 2 bad command line or
parameters, 3 another pipeline holds the runs folder, 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from milk_forecast.contracts import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_USAGE,
    PREDICTED,
    RUNNER_PARAMETERS,
    UNIT,
    data_label,
)
from milk_forecast.data import raw
from milk_forecast.runner import history, lock, pipeline, schedule, stages
from milk_forecast.runner.clock import SystemClock
from milk_forecast.runner.signals import Interrupts

PROJECT_ROOT = Path(__file__).resolve().parent


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="run_pipeline.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        help="folder with precio_leche.csv, precipitaciones.csv and banco_central.csv "
        "(default: data/ when it holds them, else the synthetic sample in data/sample)",
    )
    parser.add_argument(
        "--runs-dir",
        type=Path,
        default=PROJECT_ROOT / "runs",
        help="where run folders and LATEST live (default: runs/)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (repeatable); see --list-parameters",
    )
    parser.add_argument(
        "--force", action="store_true", help="run even when the served run has the same inputs"
    )
    parser.add_argument(
        "--retries", type=_non_negative_int, default=0, help="retry a failed run N times"
    )
    parser.add_argument(
        "--retry-delay",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="wait between retries (default: 30)",
    )
    parser.add_argument(
        "--schedule",
        metavar="CRON",
        help='run now, then at every time of this UTC cron expression, e.g. "0 0 * * 0"',
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for another pipeline instead of exiting"
    )
    parser.add_argument("--list", action="store_true", help="print the run history and exit")
    parser.add_argument(
        "--keep",
        type=_positive_int,
        metavar="N",
        help="delete all but the newest N runs (never the served or a running one) and exit",
    )
    parser.add_argument(
        "--notebooks-dir",
        type=Path,
        default=stages.NOTEBOOKS_DIR,
        help="run these copies of the four notebooks instead of notebooks/",
    )
    parser.add_argument(
        "--list-parameters",
        action="store_true",
        help="print each notebook's parameters with their defaults and exit",
    )
    return parser


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def print_parameters(notebooks_dir: Path = stages.NOTEBOOKS_DIR) -> None:
    for stage in stages.load_stages(notebooks_dir):
        print(stage.name)
        for name, info in stage.parameters.items():
            note = "  (set by the runner)" if name in RUNNER_PARAMETERS else ""
            comment = f"  # {info['help']}" if info.get("help") else ""
            print(f"  {name} = {info['default']}{note}{comment}")


def summarize(outcome: pipeline.RunOutcome) -> None:
    """The closing lines of a run: id, folder, headline metrics, the forecast path."""
    if outcome.status == "skipped":
        print(
            f"nothing to do: the served run {outcome.run_id} was made from the same inputs, "
            f"notebooks, package code and parameters ({outcome.run_dir}); use --force to rerun"
        )
        return
    record = outcome.record
    data = data_label(record.get("synthetic_sample"))
    if outcome.failure is not None:
        print(f"run {outcome.run_id} FAILED ({data}): {outcome.failure.describe()}")
        print(f"  run folder kept for inspection: {outcome.run_dir}")
        print("  the served model is unchanged (runs/LATEST still names the last good run)")
        return
    seconds = sum(stage["seconds"] or 0 for stage in record["stages"])
    print(f"run {outcome.run_id} succeeded in {seconds:.1f} s on {data}")
    print(f"  folder: {outcome.run_dir}")
    print(f"  headline: {format_headline(record.get('headline') or {})}")
    if record.get("forecast"):
        print(f"  forecast: {format_forecast(record['forecast'])}")
    path = record.get("forecast_path") or []
    shown = [row for row in path if row.get("horizon") in (1, 3, 6, 12)]
    if shown:
        print("  path, months ahead:")
        for row in shown:
            print(f"    {row['horizon']:>2}: {format_forecast(row, details=False)}")


def format_headline(headline: dict[str, Any]) -> str:
    """``rmse_clp_per_l=6.73, ... (model, evaluation)``: the figures, then what they describe."""
    figures = {k: v for k, v in headline.items() if isinstance(v, int | float)}
    about = [str(v) for k, v in headline.items() if k not in figures]
    shown = ", ".join(f"{k}={v:.2f}" for k, v in figures.items())
    return f"{shown} ({', '.join(about)})" if about else shown


def format_forecast(forecast: dict[str, Any], details: bool = True) -> str:
    """``2020-05: 330.18 CLP/L, 80% 321.43..339.18``, plus the model and the reason (``details``)."""
    text = f"{forecast.get('month')}: {forecast.get(PREDICTED, float('nan')):.2f} {UNIT}"
    for key, lower in forecast.items():
        if key.startswith("lower_"):
            level = key.split("_")[1]
            upper = forecast.get(f"upper_{level}_clp_per_l", float("nan"))
            text += f", {level}% {lower:.2f}..{upper:.2f}"
    if details and forecast.get("model"):
        text += f"\n            by {forecast['model']}"
    if details and forecast.get("reason"):
        text += f"\n            because {forecast['reason']}"
    return text


def make_run_once(
    args: argparse.Namespace, data_dir: Path, overrides: dict[str, str], interrupts: Interrupts
) -> Callable[[], bool]:
    """One attempt: a new run folder each call; True when it succeeded (or was skipped)."""

    def run_once() -> bool:
        outcome = pipeline.run_pipeline(
            data_dir,
            args.runs_dir,
            overrides,
            force=args.force,
            notebooks_dir=args.notebooks_dir,
            interrupts=interrupts,
        )
        summarize(outcome)
        return outcome.ok

    return run_once


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.runs_dir = args.runs_dir.resolve()
    if args.list:
        print(history.format_history(args.runs_dir))
        return EXIT_OK
    if args.list_parameters:
        print_parameters(args.notebooks_dir)
        return EXIT_OK
    try:
        cron = schedule.parse_cron(args.schedule) if args.schedule else None
    except schedule.CronError as exc:
        parser.error(f"--schedule: {exc}")
    data_dir = (args.data_dir or raw.default_data_dir(PROJECT_ROOT)).resolve()
    overrides = dict(args.parameter)
    with Interrupts() as interrupts:
        try:
            return run(args, cron, data_dir, overrides, interrupts)
        except lock.LockHeldError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_LOCKED
        except (lock.LockError, stages.PipelineError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except KeyboardInterrupt as exc:
            print(f"stopped: {exc or 'interrupted'}", file=sys.stderr)
            return EXIT_INTERRUPTED


def run(
    args: argparse.Namespace,
    cron: schedule.CronSchedule | None,
    data_dir: Path,
    overrides: dict[str, str],
    interrupts: Interrupts,
) -> int:
    """What main does once the command line is parsed: prune, or run once, or on a schedule."""

    def runs_lock() -> lock.RunsLock:
        return lock.RunsLock(args.runs_dir, wait=args.wait, stopped=interrupts.stopped)

    if args.keep is not None:
        with runs_lock():
            removed = history.prune_runs(args.runs_dir, args.keep)
        print(f"removed {len(removed)} run(s): {', '.join(removed) or '-'}")
        return EXIT_OK
    # Fail fast on bad parameters or a missing data folder, before any run starts.
    stages.resolve_parameters(stages.load_stages(args.notebooks_dir), overrides)
    if not data_dir.is_dir():
        raise stages.PipelineError(f"--data-dir {data_dir} does not exist")
    print(f"data: {data_dir} ({data_label(raw.is_synthetic(data_dir))})")
    run_once = make_run_once(args, data_dir, overrides, interrupts)
    clock = SystemClock(interrupts.stopped)
    if cron is None:
        with runs_lock():
            ok = schedule.run_with_retries(
                run_once, args.retries, args.retry_delay, clock, interrupts.stopped, print
            )
        return EXIT_OK if ok else EXIT_FAILED

    def run_locked() -> bool:  # a scheduler idles without holding the lock
        with runs_lock():
            return run_once()

    return schedule.run_schedule(
        cron,
        run_locked,
        retries=args.retries,
        retry_delay=args.retry_delay,
        clock=clock,
        stopped=interrupts.stopped,
        log=print,
    )


if __name__ == "__main__":
    sys.exit(main())
