"""``LATEST``: the id of the served run, one line, replaced only atomically.

It is a small regular file the runner writes (never a symlink); ``read_latest`` refuses
anything else, naming it. ``latest_stamp`` is what a reader watches to know it changed.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from milk_forecast.run_folder.files import excerpt, read_bounded
from milk_forecast.run_folder.layout import LATEST, RunFolderError, is_valid_run_id

MAX_LATEST_BYTES = 64


def latest_stamp(runs_dir: Path) -> tuple[int, int, int, int] | None:
    """Identity of ``LATEST`` itself (inode, mode, mtime, size); None when it is absent."""
    try:
        info = os.lstat(Path(runs_dir) / LATEST)
    except OSError:
        return None
    return (info.st_ino, info.st_mode, info.st_mtime_ns, info.st_size)


def read_latest(runs_dir: Path) -> str | None:
    """The run id ``LATEST`` names; None when there is none; else ``RunFolderError``."""
    path = Path(runs_dir) / LATEST
    try:
        if stat.S_ISLNK(os.lstat(path).st_mode):
            raise RunFolderError(f"{path}: is a symlink; LATEST must be a file the pipeline writes")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise RunFolderError(f"{path}: cannot be examined ({exc.strerror})") from None
    data = read_bounded(path, MAX_LATEST_BYTES)
    try:
        run_id = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise RunFolderError(f"{path}: not UTF-8 text (starts {excerpt(data)})") from None
    if not is_valid_run_id(run_id):
        raise RunFolderError(f"{path}: holds {excerpt(run_id)}, which is not a run id")
    return run_id
