"""The run history as a text table (``--list``), and pruning old run folders (``--keep``)."""

from __future__ import annotations

import hashlib
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import record as run_record
from milk_forecast.run_folder.layout import LATEST, OUTPUT_FILES, PUBLICATIONS_FILE, RunFolderError
from milk_forecast.run_folder.metrics import RMSE
from milk_forecast.run_folder.publication import read_latest, read_publications
from milk_forecast.run_folder.servable import changed_outputs
from milk_forecast.run_folder.write import describe_os_error
from milk_forecast.runner.clock import format_seconds
from milk_forecast.runner.state import first_line

SERVED_MARK = "*"
PUBLICATIONS_SHOWN = 10
NOTE_WIDTH = 70
_COLUMNS = ("", "run_id", "status", "duration", "data", "model", RMSE, "note")


def format_history(runs_dir: Path) -> str:
    """The runs under ``runs_dir`` newest first, one line each; ``*`` marks the served run."""
    runs = run_record.list_runs(runs_dir)
    if not runs:
        return f"No runs yet in {runs_dir}: start one with `python run_pipeline.py`."
    try:
        latest = read_latest(runs_dir)
        footer = "no run has succeeded yet: nothing is served"
    except RunFolderError as exc:  # a broken LATEST must not hide the history
        latest, footer = None, f"LATEST is broken: {exc}"
    if latest is not None:
        footer = f"{SERVED_MARK} = served (named by {runs_dir / LATEST})"
    rows = [list(_COLUMNS)] + [_row(summary, summary.run_id == latest) for summary in runs]
    return _table(rows) + "\n" + footer + format_publications(runs_dir)


def format_publications(runs_dir: Path) -> str:
    """The last publications of the log (run, when, by whom), newest first; '' without any."""
    entries, notes = read_publications(runs_dir)
    if not entries and not notes:
        return ""
    lines = [f"\npublications ({runs_dir / PUBLICATIONS_FILE}), newest first:"]
    newest = entries[::-1][:PUBLICATIONS_SHOWN]
    lines += [f"  {e['published_at']}  {e['run_id']}  by {e['by']}" for e in newest]
    if len(entries) > PUBLICATIONS_SHOWN:
        lines.append(f"  ... {len(entries) - PUBLICATIONS_SHOWN} earlier")
    return "\n".join(lines + [f"  note: {note}" for note in notes])


def prune_runs(runs_dir: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` run folders; return the deleted ids, newest first.
    The run ``LATEST`` names, runs still running and entries that are not folders of their
    own (a file, a symbolic link) are never deleted, nor make room for older runs. A folder
    is renamed away first, so it never shows as a half-deleted run. A ``LATEST`` that cannot
    be read stops the pruning (``RunFolderError``): the served run is unknown."""
    if keep < 1:
        raise ValueError(f"keep must be at least 1, got {keep}")
    try:
        latest = read_latest(runs_dir)
    except RunFolderError as exc:
        raise RunFolderError(f"not pruning: the served run is unknown: {exc}") from None
    removed = []
    for summary in run_record.list_runs(runs_dir)[keep:]:
        if (
            summary.run_id == latest
            or summary.status == run_record.RUNNING
            or not run_record.is_run_folder(summary.path)
        ):
            continue
        doomed = summary.path.with_name(f".{summary.run_id}.deleting")
        try:
            summary.path.rename(doomed)
            shutil.rmtree(doomed)
        except OSError as exc:
            done = f" (removed before: {', '.join(removed)})" if removed else ""
            raise RunFolderError(
                f"cannot remove run {summary.run_id}: {describe_os_error(exc)}{done}"
            ) from None
        removed.append(summary.run_id)
    return removed


def inputs_label(record: dict[str, Any]) -> str:
    """``synthetic_sample`` or ``real``, plus 8 hex digits of a hash of the inputs' sha256s."""
    kind = run_record.data_source(record.get("synthetic_sample"))
    inputs = record.get("inputs") or {}
    if not inputs:
        return kind
    lines = sorted(
        f"{name}:{info.get('sha256', '') if isinstance(info, dict) else ''}"
        for name, info in inputs.items()
    )
    digest = hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()
    return f"{kind} {digest[:8]}"


def duration_seconds(record: dict[str, Any]) -> float | None:
    """``finished_at - started_at``, else the sum of the stages' seconds, else None."""
    try:
        started = datetime.fromisoformat(record["started_at"])
        finished = datetime.fromisoformat(record["finished_at"])
        return (finished - started).total_seconds()
    except (KeyError, TypeError, ValueError):
        pass
    seconds = [s.get("seconds") for s in record.get("stages") or [] if isinstance(s, dict)]
    numbers = [s for s in seconds if isinstance(s, int | float)]
    return float(sum(numbers)) if numbers else None


def _row(summary: run_record.RunSummary, served: bool) -> list[str]:
    record, mark = summary.record, SERVED_MARK if served else ""
    if summary.error is not None:
        return [mark, summary.run_id, "broken", "-", "-", "-", "-", summary.error]
    headline = record.get("headline") or {}
    seconds = duration_seconds(record)
    rmse = headline.get(RMSE)
    return [
        mark,
        summary.run_id,
        summary.status,
        "-" if seconds is None else format_seconds(seconds),
        inputs_label(record),
        str(headline.get("model", "-")),
        f"{rmse:.2f}" if isinstance(rmse, int | float) else "-",
        _clip(_changed(summary) or ("" if served else _note(record))),  # served: published since
    ]


def _changed(summary: run_record.RunSummary) -> str:
    """What ``--list`` says of a succeeded run whose outputs changed since (the service
    refuses to serve it); '' when they are as run.json recorded."""
    if summary.status != run_record.SUCCEEDED:
        return ""
    changed = changed_outputs(summary.path, summary.record, OUTPUT_FILES)
    return f"CHANGED since it succeeded: {', '.join(changed)}" if changed else ""


def _note(record: dict[str, Any]) -> str:
    """Why a run failed (stage: exception: message), or why it was not published."""
    error = record.get("error")
    if isinstance(error, dict):
        message = first_line(str(error.get("message", "")))
        return f"{error.get('stage', '?')}: {error.get('exception', '?')}: {message}"
    if record.get(run_record.PUBLISHED) is False and record.get(run_record.NOT_PUBLISHED_REASON):
        return f"not published: {record[run_record.NOT_PUBLISHED_REASON]}"
    return ""


def _clip(note: str) -> str:
    return note if len(note) <= NOTE_WIDTH else note[: NOTE_WIDTH - 3] + "..."


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
