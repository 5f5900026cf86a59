"""Publication: ``LATEST`` names the served run; ``publications.jsonl`` logs every publication.

``LATEST`` is one run id in a small regular file the runner replaces atomically (never a
symlink): ``read_latest`` refuses anything else.
The log holds a JSON line ``{"run_id", "published_at", "by"}`` per publication; every
reader reads its newest ``MAX_LOG_BYTES`` and skips (noting) a line that is not an entry.
The writers are in ``write``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.files import excerpt, open_regular, read_bounded
from milk_forecast.run_folder.layout import (
    LATEST,
    PUBLICATIONS_FILE,
    RunFolderError,
    is_valid_run_id,
)

MAX_LATEST_BYTES = 64


def read_latest(runs_dir: Path) -> str | None:
    """The run id ``LATEST`` names; None when there is none; else ``RunFolderError``."""
    path = Path(runs_dir) / LATEST
    if not os.path.lexists(path):
        return None
    data = read_bounded(path, MAX_LATEST_BYTES, follow=False)
    try:
        run_id = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text (starts {excerpt(data)})") from None
    if not is_valid_run_id(run_id):
        raise RunFolderError(f"{path}: holds {excerpt(run_id)}, which is not a run id")
    return run_id


PUBLICATION_KEYS = ("run_id", "published_at", "by")
PUBLISHED_BY_PIPELINE, PUBLISHED_BY_OPERATOR = "pipeline", "publish"
MAX_LOG_BYTES = 1024 * 1024  # the newest end read by every reader: about 12,000 lines


def _entry(line: str) -> dict[str, str] | None:
    try:
        entry = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entry, dict) or not is_valid_run_id(entry.get("run_id")):
        return None
    if not all(isinstance(entry.get(key), str) for key in PUBLICATION_KEYS):
        return None
    return {key: entry[key] for key in PUBLICATION_KEYS}


def read_publications(runs_dir: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The log's entries, oldest first, and a note per line skipped; a missing log is empty.

    Reads the newest ``MAX_LOG_BYTES`` only (saying so), never follows a symlink, never blocks.
    """
    path = Path(runs_dir) / PUBLICATIONS_FILE
    try:
        fd = open_regular(path, follow=False)
    except FileNotFoundError:
        return [], []
    except RunFolderError as exc:
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
    return entries, notes
