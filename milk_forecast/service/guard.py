"""Reading the runs folder without trusting it: regular files only, bounded, never outside it.

Everything the service reads from ``runs/`` goes through a ``RunsFolder``. A path is
resolved (symlinks followed) and must stay inside the runs folder; it must be a regular
file (a FIFO, a socket, a device or a directory is refused after one ``stat``, never
opened, so nothing blocks); its size must be within the bound its caller gives; ``LATEST``
itself must be a small regular file holding UTF-8 text, never a symlink. Whatever is wrong
raises ``RefusedError`` whose message names the file and the reason in one short line:
values read from a file are quoted only as a short, sanitised excerpt.

A file replaced between the ``stat`` and the read (by someone who can write ``runs/``)
is the one race left: the contract readers open files by path.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from milk_forecast import contracts

T = TypeVar("T")

# Bounds on what is read from runs/ (a real run: run.json 3 kB, metrics.json 5 kB,
# predictions.json about 100 kB).
MAX_LATEST_BYTES = 64
MAX_RUN_JSON_BYTES = 256 * 1024
MAX_METRICS_BYTES = 2 * 1024 * 1024
MAX_PREDICTIONS_BYTES = 4 * 1024 * 1024
# What the page and the report route read (a real run: charts 15 to 70 kB, report.html
# about 1 MB, the publication log 80 bytes a line).
MAX_CHART_BYTES = 2 * 1024 * 1024
MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_PUBLICATIONS_BYTES = 1024 * 1024
# JSON handed back whole (/api/runs/{run_id}) may nest this deep; a real run nests 5 levels.
MAX_DEPTH = 32
MAX_EXCERPT = 40  # characters of a value quoted in a message
MAX_MESSAGE = 300  # characters of a whole message about a file

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFLNK: "a symlink",
}


class RefusedError(Exception):
    """A file or folder of ``runs/`` the service will not use; the message says which and why."""


def sanitize(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line of printable characters, cut to ``limit`` characters."""
    clean = "".join(char if char.isprintable() else "?" for char in text[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def excerpt(value: str | bytes) -> str:
    """A short, sanitised quote of ``value`` for a message."""
    if isinstance(value, bytes):
        return sanitize(repr(value[:MAX_EXCERPT]), MAX_EXCERPT + 10)
    return repr(sanitize(value, MAX_EXCERPT))


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in ``value`` nest deeper than ``limit`` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((child, depth + 1) for child in children)
    return False


def _read_regular(path: Path, real: Path, max_bytes: int) -> bytes:
    """At most ``max_bytes`` of ``real``, opened without blocking and checked again once open."""
    try:
        return contracts.read_regular(real, max_bytes)[:max_bytes]
    except contracts.NotARegularFileError:
        raise RefusedError(f"{path}: replaced by something else than a regular file") from None
    except OSError as exc:
        raise RefusedError(f"{path}: unreadable ({exc.strerror})") from None


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "not a regular file")


class RunsFolder:
    """The runs folder as the service reads it; ``path`` may itself be a symlink."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def root(self) -> Path:
        """The runs folder with every symlink resolved."""
        return Path(os.path.realpath(self.path))

    def inside(self, path: Path) -> Path:
        """``path`` resolved; RefusedError when it leads outside the runs folder."""
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(self.root()):
            raise RefusedError(f"{path}: leads outside {self.path} (symlink), refused")
        return real

    def regular_file(self, path: Path, max_bytes: int) -> Path:
        """``path`` resolved, once it is known to be a regular file of at most ``max_bytes``."""
        real = self.inside(path)
        try:
            info = os.stat(real)
        except FileNotFoundError:
            raise RefusedError(f"{path}: missing") from None
        except OSError as exc:
            raise RefusedError(f"{path}: cannot be examined ({exc.strerror})") from None
        if not stat.S_ISREG(info.st_mode):
            raise RefusedError(f"{path}: is {_kind(info.st_mode)}, not a regular file")
        if info.st_size > max_bytes:
            raise RefusedError(f"{path}: {info.st_size} bytes, more than the {max_bytes} allowed")
        return real

    def read(self, path: Path, reader: Callable[[Path], T], max_bytes: int) -> T:
        """``reader`` (a contract reader) applied to ``path`` once it passed ``regular_file``."""
        real = self.regular_file(path, max_bytes)
        try:
            return reader(real)
        except contracts.ContractError as exc:
            raise RefusedError(sanitize(str(exc))) from None
        except (OSError, ValueError, RecursionError) as exc:
            message = f"{path}: unreadable ({type(exc).__name__}: {exc})"
            raise RefusedError(sanitize(message)) from None

    def read_bytes(self, path: Path, max_bytes: int) -> bytes:
        """The bytes of ``path`` once it passed ``regular_file`` (checked again once open)."""
        return _read_regular(path, self.regular_file(path, max_bytes), max_bytes)

    def run_dir(self, run_id: str) -> Path:
        """The folder of ``run_id`` (a well-formed id, a directory inside the runs folder)."""
        if not contracts.is_valid_run_id(run_id):
            raise RefusedError(f"{excerpt(run_id)} is not a run id")
        path = self.path / run_id
        if not self.inside(path).is_dir():
            raise RefusedError(f"{path}: no such run folder")
        return path

    def latest_stamp(self) -> tuple[int, int, int, int] | None:
        """Identity of ``LATEST`` itself (inode, mode, mtime, size); None when it is absent."""
        try:
            info = os.lstat(self.path / contracts.LATEST)
        except OSError:
            return None
        return (info.st_ino, info.st_mode, info.st_mtime_ns, info.st_size)

    def read_latest(self) -> str | None:
        """The run id ``LATEST`` names; None when there is no ``LATEST``; else RefusedError."""
        path = self.path / contracts.LATEST
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise RefusedError(f"{path}: cannot be examined ({exc.strerror})") from None
        if stat.S_ISLNK(mode):
            raise RefusedError(f"{path}: is a symlink; LATEST must be a file the pipeline writes")
        data = self.read_bytes(path, MAX_LATEST_BYTES)
        try:
            run_id = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise RefusedError(f"{path}: not UTF-8 text (starts {excerpt(data)})") from None
        if not contracts.is_valid_run_id(run_id):
            raise RefusedError(f"{path}: holds {excerpt(run_id)}, which is not a run id")
        return run_id
