"""The run folder: creating one, finding one by id, listing them, and ``LATEST``.

A run lives in ``<runs_dir>/<run_id>/`` (names in ``contracts``). ``<runs_dir>/LATEST``
names the run being served and is only ever replaced atomically (write, then rename),
so a reader sees the old id or the new one.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from milk_forecast.contracts import (
    INCOMPLETE,
    LATEST,
    MAX_PID,
    RUN_ID_EXAMPLE,
    RUN_ID_FORMAT,
    RUN_JSON,
    RUNNING,
    RunFolderError,
    is_valid_run_id,
    read_run_record,
)
from milk_forecast.files import describe_os_error, staged_text, write_json_atomic
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


# LATEST holds one run id: anything longer is not a LATEST written by the runner.
MAX_LATEST_BYTES = 256


def read_latest(runs_dir: Path) -> str | None:
    """The run id that ``LATEST`` names, or None when no run has succeeded yet.

    ``LATEST`` must be a small regular file holding a run id; anything else (a folder,
    a FIFO, a huge or non-UTF-8 file) raises ``RunFolderError`` naming it, never blocks.
    """
    path = runs_dir / LATEST
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunFolderError(f"{path}: unreadable ({describe_os_error(exc)})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RunFolderError(f"{path}: not a regular file")
        with os.fdopen(fd, "rb") as handle:
            data = handle.read(MAX_LATEST_BYTES + 1)
    except OSError as exc:
        raise RunFolderError(f"{path}: unreadable ({describe_os_error(exc)})") from None
    if len(data) > MAX_LATEST_BYTES:
        raise RunFolderError(f"{path}: larger than {MAX_LATEST_BYTES} bytes, not a run id")
    run_id = data.decode("utf-8", errors="replace").strip()
    if not is_valid_run_id(run_id):
        raise RunFolderError(f"{path} holds {run_id[:40]!r}, which is not a run id")
    return run_id


def staged_latest(runs_dir: Path, run_id: str) -> AbstractContextManager[Callable[[], None]]:
    """``LATEST`` naming ``run_id``, written beside it now; ``commit()`` renames it into place."""
    run_dir_for(runs_dir, run_id)  # validates the id
    return staged_text(runs_dir / LATEST, run_id + "\n")


def publish_latest(runs_dir: Path, run_id: str) -> None:
    """Point ``LATEST`` at ``run_id`` atomically: readers see the old id or the new one."""
    with staged_latest(runs_dir, run_id) as commit:
        commit()


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists; an impossible pid (0, negative, huge) is not alive."""
    if not 0 < pid <= MAX_PID:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def effective_status(record: dict[str, Any]) -> str:
    """The stored status, except that a ``running`` run whose process is gone is incomplete."""
    status = str(record.get("status"))
    if status != RUNNING:
        return status
    pid = record.get("pid")
    same_host = record.get("host") == socket.gethostname()
    if isinstance(pid, int) and not isinstance(pid, bool) and same_host and not pid_alive(pid):
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
    """Every run folder under ``runs_dir``, newest first; broken ones are reported, not skipped.

    An entry named like a run that is not a folder of its own (a file, a symbolic
    link) is listed as broken too; a symbolic link is never followed.
    """
    if not runs_dir.is_dir():
        return []
    try:
        entries = sorted(runs_dir.iterdir(), key=lambda p: p.name, reverse=True)
    except OSError as exc:
        raise RunFolderError(f"{runs_dir}: cannot list ({describe_os_error(exc)})") from None
    summaries = []
    for path in entries:
        if not is_valid_run_id(path.name):
            continue
        try:
            summaries.append(_summary(path))
        except RunFolderError as exc:
            summaries.append(RunSummary(path.name, path, INCOMPLETE, {}, str(exc)))
    return summaries


def is_run_folder(path: Path) -> bool:
    """A real folder (not a symbolic link to one)."""
    return not path.is_symlink() and path.is_dir()


def _summary(path: Path) -> RunSummary:
    if path.is_symlink():
        raise RunFolderError(f"{path}: a symbolic link, not a run folder (not followed)")
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a folder")
    record = read_run_record(path)
    return RunSummary(path.name, path, effective_status(record), record)
