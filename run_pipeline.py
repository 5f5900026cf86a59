#!/usr/bin/env python
"""Run the four notebooks of the milk price pipeline headless, one folder per run.

    python run_pipeline.py                          # the default data, once
    python run_pipeline.py --data-dir ../shared/data
    python run_pipeline.py -p ridge_alpha 0.5
    python run_pipeline.py --schedule "0 0 * * 0" --retries 3 --retry-delay 30
    python run_pipeline.py --list                   # run history, * marks the served run

A run on the synthetic sample is not published over a served run made from real
data: it is kept (see --list), LATEST does not move, and the exit code is 4; pass
--allow-synthetic-over-real to publish it anyway (--publish refuses such a run without it).

Exit codes: 0 success (or nothing to redo), 1 the run failed (or its run folder, or
LATEST and the publication log, could not be written), 2 bad command line, parameters
or runs folder, 3 another pipeline holds the runs folder, 4 the run succeeded but was
not published (see above), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import redirect_stdout
from pathlib import Path

from milk_forecast.data import raw
from milk_forecast.run_folder.layout import RunFolderError
from milk_forecast.runner import history, options, schedule, stages
from milk_forecast.runner.clock import SystemClock
from milk_forecast.runner.lock import LockError, LockHeldError, RunsLock
from milk_forecast.runner.output import PipeSafe
from milk_forecast.runner.publish import PublicationError, PublishError, publish_existing
from milk_forecast.runner.recipe import run_pipeline
from milk_forecast.runner.signals import Interrupts
from milk_forecast.runner.stages import RUNNER_PARAMETERS, PipelineError
from milk_forecast.runner.state import RunOutcome, RunRecordError, settle_abandoned


def build_parser() -> argparse.ArgumentParser:
    parser = options.Parser(
        prog="run_pipeline.py",
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    options.add_run_options(parser, runs_dir_default=stages.RUNS_DIR)
    parser.set_defaults(notebooks_dir=stages.NOTEBOOKS_DIR)
    options.add_retry_options(parser, "run")
    parser.add_argument(
        "--schedule",
        metavar="CRON",
        help='run now, then at every time of this UTC cron expression, e.g. "0 0 * * 0"',
    )
    commands = parser.add_mutually_exclusive_group()
    commands.add_argument("--list", action="store_true", help="print the run history and exit")
    commands.add_argument(
        "--keep",
        type=options.at_least(1),
        metavar="N",
        help="delete all but the newest N runs (never the served or a running one) and exit",
    )
    commands.add_argument(
        "--publish",
        metavar="RUN_ID",
        help="make an earlier succeeded run the served one (checked as the API checks a "
        "run; logged in runs/publications.jsonl) and exit: to roll back",
    )
    commands.add_argument(
        "--list-parameters",
        action="store_true",
        help="print each notebook's parameters with their defaults and exit",
    )
    return parser


def print_parameters(notebooks_dir: Path) -> None:
    for stage in stages.load_stages(notebooks_dir):
        print(stage.name)
        for name, info in stage.parameters.items():
            note = "  (set by the runner)" if name in RUNNER_PARAMETERS else ""
            comment = f"  # {info['help']}" if info.get("help") else ""
            print(f"  {name} = {info['default']}{note}{comment}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with Interrupts() as interrupts, PipeSafe(sys.stdout) as output, redirect_stdout(output):
            refuse_ignored_options(parser, args)
            return command(args, interrupts)
    except (options.UsageError, LockError, PipelineError, RunFolderError, PublishError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return options.EXIT_LOCKED if isinstance(exc, LockHeldError) else options.EXIT_USAGE
    except KeyboardInterrupt as exc:
        print(f"stopped: {exc or 'interrupted'}", file=sys.stderr)
        return options.EXIT_INTERRUPTED


# What each command other than a run takes (argparse names); any other option is refused.
COMMAND_OPTIONS = {
    "list": {"list", "runs_dir"},
    "keep": {"keep", "runs_dir", "wait"},
    "publish": {"publish", "runs_dir", "wait", "allow_synthetic_over_real"},
    "list_parameters": {"list_parameters", "notebooks_dir"},
}


def refuse_ignored_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A ``UsageError`` naming the options given to a command that does not take them (``-p``
    with ``--publish``, say): an option is honoured or refused, never ignored."""
    for name, takes in COMMAND_OPTIONS.items():
        if getattr(args, name) in (None, False):
            continue
        given = [
            action.option_strings[0]
            for action in parser._actions
            if action.option_strings
            and action.dest not in takes
            and getattr(args, action.dest, action.default) != action.default
        ]
        if given:
            flag = "--" + name.replace("_", "-")
            raise options.UsageError(f"{flag} does not take {', '.join(given)}: remove them")


def command(args: argparse.Namespace, interrupts: Interrupts) -> int:
    """The command line parsed: list, publish, list the parameters, prune, or check and run."""
    args.runs_dir = options.runs_folder("--runs-dir", args.runs_dir, create=False)
    if args.list:
        settle_abandoned(args.runs_dir, "--list")
        print(history.format_history(args.runs_dir))
        return options.EXIT_OK
    if args.publish is not None:
        return publish(args, interrupts)
    if args.list_parameters:
        print_parameters(options.existing_folder("--notebooks-dir", args.notebooks_dir))
        return options.EXIT_OK
    try:
        cron = schedule.parse_cron(args.schedule) if args.schedule is not None else None
    except schedule.CronError as exc:
        raise options.UsageError(f"--schedule: {exc}") from None
    if args.keep is not None:
        options.runs_folder("--runs-dir", args.runs_dir, create=True)
        with RunsLock(args.runs_dir, wait=args.wait, stopped=interrupts.stopped):
            removed = history.prune_runs(args.runs_dir, args.keep)
        print(f"removed {len(removed)} run(s): {', '.join(removed) or '-'}")
        return options.EXIT_OK
    args.data_dir, args.overrides, args.notebooks_dir = options.check_run_arguments(args)
    return run(args, cron, interrupts)


def publish(args: argparse.Namespace, interrupts: Interrupts) -> int:
    """``--publish RUN_ID``: serve an earlier run, holding the runs folder's lock."""
    with RunsLock(args.runs_dir, wait=args.wait, stopped=interrupts.stopped):
        try:
            entry = publish_existing(
                args.runs_dir,
                args.publish,
                allow_synthetic_over_real=args.allow_synthetic_over_real,
            )
        except PublicationError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return options.EXIT_FAILED
    if entry is None:
        print(f"run {args.publish} is already the served one: nothing to do")
    else:
        print(f"run {entry['run_id']} is now the served one (published {entry['published_at']})")
    return options.EXIT_OK


def run(
    args: argparse.Namespace, cron: schedule.CronSchedule | None, interrupts: Interrupts
) -> int:
    """Run once, or on the schedule: 0, 1 when the last run failed, 4 when it succeeded
    without being published. A run folder or run.json that cannot be written fails its attempt."""
    print(f"data: {args.data_dir} ({raw.data_label(raw.is_synthetic(args.data_dir))})")
    outcomes: list[RunOutcome] = []

    def run_once() -> bool:
        try:
            outcome = run_pipeline(
                args.data_dir,
                args.runs_dir,
                args.overrides,
                force=args.force,
                notebooks_dir=args.notebooks_dir,
                allow_synthetic_over_real=args.allow_synthetic_over_real,
            )
        except RunRecordError as exc:
            print(f"error: {exc}; the run is not published", file=sys.stderr)
            return False
        options.summarize(outcome)
        outcomes.append(outcome)
        return outcome.ok

    lock = RunsLock(args.runs_dir, wait=args.wait, stopped=interrupts.stopped)

    def run_locked() -> bool:  # a scheduler idles without holding the lock
        with lock:
            return run_once()

    clock = SystemClock(interrupts.stopped)
    if cron is None:
        with lock:
            ok = schedule.run_with_retries(
                run_once, args.retries, args.retry_delay, clock, interrupts.stopped, print
            )
    else:
        ok = schedule.run_schedule(
            cron, run_locked, args.retries, args.retry_delay, clock, interrupts.stopped, print
        )
    if not ok:
        return options.EXIT_FAILED
    if outcomes and outcomes[-1].unpublished:
        return options.EXIT_NOT_PUBLISHED
    return options.EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
