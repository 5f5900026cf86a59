"""Publication: ``LATEST`` names the served run in a small regular file (never a symlink);
``publications.jsonl`` logs every publication, a JSON line ``{"run_id", "published_at",
"by"}`` each. The writers are in ``write``."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import layout
from milk_forecast.run_folder.files import excerpt, open_regular, read_bounded

MAX_LATEST_BYTES = 64


def read_latest(runs_dir: Path) -> str | None:
    """The run id ``LATEST`` names; None when there is none; else ``RunFolderError``."""
    path = Path(runs_dir) / layout.LATEST
    if not os.path.lexists(path):
        return None
    data = read_bounded(path, MAX_LATEST_BYTES, follow=False)
    try:
        run_id = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise layout.RunFolderError(f"{path}: not UTF-8 text (starts {excerpt(data)})") from None
    if not layout.is_valid_run_id(run_id):
        raise layout.RunFolderError(f"{path}: holds {excerpt(run_id)}, which is not a run id")
    return run_id


PUBLICATION_KEYS = ("run_id", "published_at", "by")
PUBLISHED_BY_PIPELINE, PUBLISHED_BY_OPERATOR = "pipeline", "publish"
TIME_FORMAT, MAX_BY = "%Y-%m-%dT%H:%M:%SZ", 40
MAX_LOG_BYTES = 1024 * 1024  # the newest end read by every reader: about 12,000 lines


def _entry(line: str) -> dict[str, str] | None:
    """A line's entry: a run id, a UTC time ``YYYY-MM-DDTHH:MM:SSZ``, a short ``by``; else None."""
    try:
        entry = json.loads(line)
        moment = datetime.strptime(entry["published_at"], TIME_FORMAT)
    except (ValueError, RecursionError, TypeError, KeyError):
        return None
    run_id, by = entry.get("run_id"), entry.get("by")
    if not layout.is_valid_run_id(run_id) or not isinstance(by, str) or len(by) > MAX_BY:
        return None
    return {"run_id": run_id, "published_at": f"{moment:{TIME_FORMAT}}", "by": by}


def read_publications(runs_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The log's entries, oldest first by time, and a note per line skipped; reads the newest
    ``MAX_LOG_BYTES`` only (saying so), never follows a symlink, never blocks."""
    path = Path(runs_dir) / layout.PUBLICATIONS_FILE
    try:
        fd = open_regular(path, follow=False)
    except FileNotFoundError:
        return [], []
    except layout.RunFolderError as exc:
        return [], [str(exc)]
    try:
        size = os.fstat(fd).st_size
        os.lseek(fd, max(0, size - MAX_LOG_BYTES), os.SEEK_SET)
        data = os.read(fd, MAX_LOG_BYTES)
    except OSError as exc:
        return [], [f"{path}: unreadable ({exc.strerror})"]
    finally:
        os.close(fd)
    lines = data.decode("utf-8", "replace").splitlines()
    notes, where = [], ""
    if size > MAX_LOG_BYTES:
        where = " of its newest end"
        lines = lines[1:]  # the first line read is cut
        notes.append(f"{path}: larger than {MAX_LOG_BYTES} bytes, only its newest end is read")
    entries = []
    for number, line in enumerate(lines, 1):
        entry = _entry(line)
        if entry is not None:
            entries.append(entry)
        elif line.strip():
            notes.append(f"{path} line {number}{where}: not a publication record, skipped")
    return sorted(entries, key=lambda entry: entry["published_at"]), notes
