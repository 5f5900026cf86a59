"""The command-line pieces shared by ``run_pipeline.py`` and ``python -m milk_forecast.flows``:
the parser, the options of a run, their value types, the checks of what they name, and the
run's closing summary.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from milk_forecast.data import raw
from milk_forecast.run_folder.metrics import DRIFT, DRIFT_WARNING, FORECAST_PATH, TRACK_RECORD
from milk_forecast.run_folder.record import NOT_PUBLISHED_REASON
from milk_forecast.run_folder.write import describe_os_error
from milk_forecast.runner import plan
from milk_forecast.runner.stages import NOTEBOOKS_DIR
from milk_forecast.runner.state import SKIPPED, RunOutcome

# Exit codes of run_pipeline.py and of every entry point that runs the pipeline; 4: the run
# succeeded but was deliberately not published (run.json says why).
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED, EXIT_NOT_PUBLISHED = 0, 1, 2, 3, 4
EXIT_INTERRUPTED = 130
ALLOW_SYNTHETIC_FLAG = "--allow-synthetic-over-real"
# Longest wait between retries: longer pauses are a schedule's job.
MAX_RETRY_DELAY_S = 86_400.0


class UsageError(Exception):
    """A command line that cannot work (a path that is not a folder, a read-only runs folder)."""


class Parser(argparse.ArgumentParser):
    """argparse, except that a mistake is one line on stderr (and exit 2), not the usage."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def add_run_options(parser: argparse.ArgumentParser, *, runs_dir_default: Path | None) -> None:
    parser.add_argument(
        "--data-dir",
        type=path_text,
        help="folder with precio_leche.csv, precipitaciones.csv and banco_central.csv "
        "(default: data/ when it holds them, else the synthetic sample in data/sample)",
    )
    parser.add_argument(
        "--runs-dir",
        type=path_text,
        default=runs_dir_default,
        help="where run folders and LATEST live (default: runs/)",
    )
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        default=[],
        metavar=("NAME", "VALUE"),
        help="set a notebook parameter (repeatable); run_pipeline.py --list-parameters lists them",
    )
    parser.add_argument(
        "--force", action="store_true", help="run even when the served run has the same inputs"
    )
    parser.add_argument(
        "--wait", action="store_true", help="wait for another pipeline instead of exiting"
    )
    parser.add_argument(
        ALLOW_SYNTHETIC_FLAG,
        action="store_true",
        help="publish a run on the synthetic sample even when the served run was made from "
        "real data (without it such a run is kept but not published, exit code 4)",
    )
    parser.add_argument(
        "--notebooks-dir",
        type=path_text,
        help="run these copies of the four notebooks instead of notebooks/",
    )


def add_retry_options(parser: argparse.ArgumentParser, what: str, prefix: str = "") -> None:
    """``--<prefix>retries N`` and ``--<prefix>retry-delay SECONDS`` (``what``: what is retried)."""
    parser.add_argument(
        f"--{prefix}retries", type=at_least(0), default=0, help=f"retry a failed {what} N times"
    )
    parser.add_argument(
        f"--{prefix}retry-delay",
        type=delay,
        default=30.0,
        metavar="SECONDS",
        help=f"wait between retries, 0 to {MAX_RETRY_DELAY_S:g} (default: 30)",
    )


def at_least(minimum: int) -> Callable[[str], int]:
    """The type of an option whose value is an integer of ``minimum`` or more."""

    def integer(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text[:40]!r} is not an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be {minimum} or more, got {value}")
        return value

    return integer


def delay(text: str) -> float:
    """Seconds between retries: a finite number in [0, MAX_RETRY_DELAY_S]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds") from None
    if not (math.isfinite(value) and 0 <= value <= MAX_RETRY_DELAY_S):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds from 0 to {MAX_RETRY_DELAY_S:g}, got {text[:40]!r}"
        )
    return value


def path_text(text: str) -> Path:
    """A path given on the command line; an empty one would silently mean the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty (give a path)")
    return Path(text)


def resolved(option: str, path: Path) -> Path:
    """``path`` made absolute; a symlink loop or an unreadable path is a ``UsageError``."""
    try:
        return path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop (Python 3.11)
        raise UsageError(f"{option} {path}: cannot be resolved ({exc})") from None


def existing_folder(option: str, path: Path) -> Path:
    path = resolved(option, path)
    if not path.exists():
        raise UsageError(f"{option} {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"{option} {path} is not a folder")
    return path


def runs_folder(option: str, path: Path, *, create: bool) -> Path:
    """The runs folder resolved: a folder (made when ``create``) this process can write in."""
    path = resolved(option, path)
    if path.exists() and not path.is_dir():
        raise UsageError(f"{option} {path} is not a folder")
    if not create:
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path, prefix=".write-test."):
            pass
    except OSError as exc:
        raise UsageError(f"{option} {path} is not writable ({describe_os_error(exc)})") from None
    return path


def check_run_arguments(args: argparse.Namespace) -> tuple[Path, dict[str, str], Path]:
    """The data folder, the ``-p`` values and the notebooks folder of a run, checked before
    anything starts (``plan.check_request``), the runs folder made when given: a
    ``UsageError`` or ``PipelineError``."""
    notebooks = existing_folder("--notebooks-dir", args.notebooks_dir or NOTEBOOKS_DIR)
    data = existing_folder("--data-dir", args.data_dir or raw.default_data_dir())
    overrides = parameter_overrides(args.parameter)
    if args.runs_dir is not None:
        runs_folder("--runs-dir", args.runs_dir, create=True)
    plan.check_request(data, overrides, notebooks)
    return data, overrides, notebooks


def parameter_overrides(pairs: list[list[str]]) -> dict[str, str]:
    """``-p NAME VALUE`` pairs by name; a name given twice is a ``UsageError``."""
    overrides: dict[str, str] = {}
    for name, value in pairs:
        if name in overrides and overrides[name] != value:
            raise UsageError(
                f"parameter {name!r} is given twice ({overrides[name][:40]!r} and "
                f"{value[:40]!r}): give it once"
            )
        overrides[name] = value
    return overrides


def summarize(outcome: RunOutcome) -> None:
    """A run's closing lines (both CLIs'): id, folder, figures, forecast path; why not published."""
    if outcome.status == SKIPPED:
        print(f"{outcome.nothing_to_do()}; use --force to rerun")
        return
    record = outcome.record
    data = raw.data_label(record.get("synthetic_sample"))
    if outcome.failure is not None:
        print(f"run {outcome.run_id} FAILED ({data}): {outcome.failure.describe()}")
        print(f"  run folder kept for inspection: {outcome.run_dir}")
        print("  the served model is unchanged (runs/LATEST still names the last good run)")
        return
    seconds = sum(stage["seconds"] or 0 for stage in record["stages"])
    print(f"run {outcome.run_id} succeeded in {seconds:.1f} s on {data}")
    print(f"  folder: {outcome.run_dir}")
    from milk_forecast.runner.report import backtest_words, forecast_words  # loaded by the run

    path = record.get(FORECAST_PATH) or []
    if path:
        print(f"  next month, {path[0]['month']}: {forecast_words(path[0])}")
        print(f"    model: {path[0].get('model')}\n    why: {path[0].get('reason')}")
    if backtest := backtest_words(record.get("headline") or {}):
        print(f"  backtest: {backtest}")
    if shown := [row for row in path if row.get("horizon") in (1, 3, 6, 12)]:
        print("  forecast path, months ahead:")
    for row in shown:
        print(f"    {row['horizon']:>2}: {row['month']}: {forecast_words(row)}")
    if path and not (record.get(TRACK_RECORD) or {}).get("horizons"):
        first = path[0]["month"]
        print(f"  track record: nothing scored yet; the first score comes with the first run whose data include the price of {first}")  # fmt: skip
    elif TRACK_RECORD in record:
        from milk_forecast.model import track_record  # scipy: only when there is one to show

        print(f"  track record: {track_record.describe_track_record(record[TRACK_RECORD])}")
    drift = record.get(DRIFT)
    if isinstance(drift, dict) and drift.get("status") == DRIFT_WARNING:
        print(f"  WARNING, drift: {'; '.join(map(str, drift.get('reasons') or []))}")
    if outcome.unpublished:
        reason = record.get(NOT_PUBLISHED_REASON) or "see its run.json"
        print(
            f"warning: run {outcome.run_id} succeeded but was NOT published (LATEST unchanged): "
            f"{reason}. Check --data-dir (or the data mount); to publish such a run anyway, "
            f"rerun with {ALLOW_SYNTHETIC_FLAG}.",
            file=sys.stderr,
        )
