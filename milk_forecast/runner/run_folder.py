"""The run folder: creating one, finding one by id, listing them, and ``LATEST``.

A run lives in ``<runs_dir>/<run_id>/`` (names in ``contracts``). ``<runs_dir>/LATEST``
names the run being served and is only ever replaced atomically (write, then rename),
so a reader sees the old id or the new one.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from milk_forecast.contracts import (
    INCOMPLETE,
    LATEST,
    RUN_ID_EXAMPLE,
    RUN_ID_FORMAT,
    RUN_JSON,
    RUNNING,
    RunFolderError,
    is_valid_run_id,
    read_run_record,
)
from milk_forecast.files import write_json_atomic, write_text_atomic
from milk_forecast.runner.clock import utc_now


def run_dir_for(runs_dir: Path, run_id: str) -> Path:
    """The folder of ``run_id``; a malformed id can never name a path outside ``runs_dir``."""
    if not is_valid_run_id(run_id):
        raise RunFolderError(
            f"run id {run_id!r} is malformed: expected a UTC timestamp like "
            f"{RUN_ID_EXAMPLE!r}, optionally followed by '-NN'"
        )
    return runs_dir / run_id


def create_run_dir(runs_dir: Path, now: datetime | None = None) -> tuple[str, Path]:
    """Create a new, empty run folder; the id is unique even within one second."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = (now or utc_now()).astimezone(UTC).strftime(RUN_ID_FORMAT)
    for suffix in [""] + [f"-{n:02d}" for n in range(1, 100)]:
        run_id = stamp + suffix
        try:
            (runs_dir / run_id).mkdir()
        except FileExistsError:
            continue
        return run_id, runs_dir / run_id
    raise RunFolderError(f"more than 100 runs started in {stamp} under {runs_dir}")


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(run_dir / RUN_JSON, record)


def read_latest(runs_dir: Path) -> str | None:
    """The run id that ``LATEST`` names, or None when no run has succeeded yet."""
    path = runs_dir / LATEST
    try:
        run_id = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not is_valid_run_id(run_id):
        raise RunFolderError(f"{path} holds {run_id!r}, which is not a run id")
    return run_id


def publish_latest(runs_dir: Path, run_id: str) -> None:
    """Point ``LATEST`` at ``run_id`` atomically: readers see the old id or the new one."""
    run_dir_for(runs_dir, run_id)  # validates the id
    write_text_atomic(runs_dir / LATEST, run_id + "\n")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def effective_status(record: dict[str, Any]) -> str:
    """The stored status, except that a ``running`` run whose process is gone is incomplete."""
    status = str(record.get("status"))
    if status != RUNNING:
        return status
    pid = record.get("pid")
    same_host = record.get("host") == socket.gethostname()
    if isinstance(pid, int) and same_host and not pid_alive(pid):
        return INCOMPLETE
    return RUNNING


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    path: Path
    status: str
    record: dict[str, Any]
    error: str | None = None


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run folder under ``runs_dir``, newest first; broken ones are reported, not skipped."""
    if not runs_dir.is_dir():
        return []
    summaries = []
    for path in sorted(runs_dir.iterdir(), key=lambda p: p.name, reverse=True):
        if not path.is_dir() or not is_valid_run_id(path.name):
            continue
        try:
            record = read_run_record(path)
        except RunFolderError as exc:
            summaries.append(RunSummary(path.name, path, INCOMPLETE, {}, str(exc)))
            continue
        summaries.append(RunSummary(path.name, path, effective_status(record), record))
    return summaries
