"""``run.json``: one run's record, and the list of the runs folder's runs. ``status`` is
``running`` until ``succeeded`` or ``failed``; ``published`` says whether a succeeded run
replaced LATEST (false: see ``not_published_reason``)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import NoneType
from typing import Any

from milk_forecast.run_folder.files import excerpt, read_json_object
from milk_forecast.run_folder.layout import RUN_JSON, RunFolderError, is_valid_run_id

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"
INCOMPLETE = "incomplete"  # not stored: a "running" run whose process is gone
RUN_STATUSES = (RUNNING, SUCCEEDED, FAILED)
PUBLISHED = "published"
NOT_PUBLISHED_REASON = "not_published_reason"
SYNTHETIC_KEY = "synthetic_sample"
OUTPUTS = "outputs"  # file -> its sha256, recorded when the run succeeded
MAX_RUN_JSON_BYTES = 256 * 1024  # a real run.json: about 10 kB
MAX_PID = 2**22  # Linux's highest pid_max: a larger pid names no process

SYNTHETIC_SOURCE, REAL_SOURCE, UNKNOWN_SOURCE = "synthetic_sample", "real", "unknown"


def data_source(synthetic: object) -> str:
    """``synthetic_sample``, ``real`` or ``unknown`` from run.json's ``synthetic_sample``."""
    if not isinstance(synthetic, bool):
        return UNKNOWN_SOURCE
    return SYNTHETIC_SOURCE if synthetic else REAL_SOURCE


# run.json keys -> the JSON types each may hold (a key may be absent: older runs).
RECORD_TYPES: dict[str, tuple[type, ...]] = (
    dict.fromkeys(("run_id", "data_dir", "fingerprint"), (str,))
    | dict.fromkeys(("started_at", "finished_at", "host", NOT_PUBLISHED_REASON), (str, NoneType))
    | dict.fromkeys(("parameters", "inputs", "versions", OUTPUTS), (dict,))
    | dict.fromkeys(("headline", "forecast", "error"), (dict, NoneType))
    | dict.fromkeys(("pid",), (int, NoneType))
    | dict.fromkeys((SYNTHETIC_KEY, PUBLISHED), (bool, NoneType))
    | {"stages": (list,)}
)
_NAMES = {str: "a text", dict: "an object", list: "a list", bool: "true/false", int: "an integer"}


def _type_problem(key: str, value: Any, types: tuple[type, ...]) -> str | None:
    if bool in types if isinstance(value, bool) else isinstance(value, types):
        return None
    expected = " or ".join(_NAMES.get(kind, "null") for kind in types)
    return f"{key!r} is {excerpt(value)}, expected {expected}"


def read_run_record(run_dir: Path, root: Path | None = None) -> dict[str, Any]:
    """``run.json`` of ``run_dir``: an object with a known ``status`` and well-typed keys."""
    path = Path(run_dir) / RUN_JSON
    record = read_json_object(path, MAX_RUN_JSON_BYTES, root)
    if record.get("status") not in RUN_STATUSES:
        raise RunFolderError(
            f"{path}: 'status' is {excerpt(record.get('status'))}, expected one of {RUN_STATUSES}"
        )
    for key, types in RECORD_TYPES.items():
        problem = key in record and _type_problem(key, record[key], types)
        if problem:
            raise RunFolderError(f"{path}: {problem}")
    if record.get("pid") is not None and not 0 < record["pid"] <= MAX_PID:
        raise RunFolderError(f"{path}: 'pid' is {excerpt(record['pid'])}, not a process id")
    if not all(isinstance(stage, dict) for stage in record.get("stages") or []):
        raise RunFolderError(f"{path}: 'stages' holds an entry that is not an object")
    return record


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
    """The stored status, except that a ``running`` run whose process is gone (same host,
    no such pid) is incomplete."""
    status, pid = str(record.get("status")), record.get("pid")
    if status != RUNNING or type(pid) is not int or record.get("host") != socket.gethostname():
        return status
    return status if pid_alive(pid) else INCOMPLETE


@dataclass(frozen=True)
class RunSummary:
    """One entry of the runs folder: its record, or why it cannot be read (``error``)."""

    run_id: str
    path: Path
    status: str
    record: dict[str, Any]
    error: str | None = None


def is_run_folder(path: Path) -> bool:
    """A real folder (not a symbolic link to one)."""
    return not path.is_symlink() and path.is_dir()


def summary_of(path: Path) -> RunSummary:
    """The summary of one run folder; a broken one is ``incomplete`` with the reason."""
    try:
        if not is_run_folder(path):
            raise RunFolderError(f"{path}: not a folder of its own (a file or a symlink)")
        record = read_run_record(path, path.parent)
    except RunFolderError as exc:
        return RunSummary(path.name, path, INCOMPLETE, {}, str(exc))
    return RunSummary(path.name, path, effective_status(record), record)


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run folder of ``runs_dir``, newest first; broken ones are listed, not skipped."""
    if not Path(runs_dir).is_dir():
        return []
    try:
        names = [entry.name for entry in os.scandir(runs_dir)]
    except OSError as exc:
        raise RunFolderError(f"{runs_dir}: cannot list ({exc.strerror})") from None
    ids = sorted((name for name in names if is_valid_run_id(name)), reverse=True)
    return [summary_of(Path(runs_dir) / run_id) for run_id in ids]
