"""Reading files of ``runs/`` without trusting them: never blocking, only regular files,
bounded, inside the runs folder when given a ``root``; JSON objects nested at most
``MAX_DEPTH`` deep. A refusal is a ``RunFolderError`` naming the file in one line; a value
from a file is quoted only as a sanitised ``excerpt``."""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import stat
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.layout import RunFolderError

_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}
MAX_DEPTH = 32  # a real metrics.json nests 5 levels
MAX_MESSAGE = 300


def sanitize(text: str, limit: int = MAX_MESSAGE) -> str:
    """``text`` on one line of printable characters, cut to ``limit`` characters."""
    clean = "".join(char if char.isprintable() else "?" for char in str(text)[: limit + 1])
    return clean if len(clean) <= limit else clean[: limit - 3] + "..."


def excerpt(value: Any, limit: int = 40) -> str:
    return sanitize(repr(value), limit)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def sha256(path: Path) -> str:
    """The sha256 of a file's content, in hex; ``OSError`` when it cannot be read."""
    with Path(path).open("rb") as stream:
        return hashlib.file_digest(stream, "sha256").hexdigest()


def stamp(path: Path) -> tuple[int, int, int, int] | None:
    """A file's (inode, mode, mtime, size), not following a link; None if absent: what a
    reader watches to know the file was replaced."""
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mode, info.st_mtime_ns, info.st_size)


def open_regular(path: Path, flags: int = os.O_RDONLY, follow: bool = True) -> int:
    """``path`` opened without blocking (and, unless ``follow``, not through a symlink); a
    ``RunFolderError`` naming it unless it is a regular file. ``FileNotFoundError`` passes."""
    flags |= os.O_NONBLOCK | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        why = "is a symlink, not followed" if exc.errno == errno.ELOOP else exc.strerror
        raise RunFolderError(f"{path}: cannot be opened ({why})") from None
    if (kind := stat.S_IFMT(os.fstat(fd).st_mode)) != stat.S_IFREG:
        os.close(fd)
        raise RunFolderError(f"{path}: is {_KINDS.get(kind, 'a device')}, not a regular file")
    return fd


def open_bounded(path: Path, max_bytes: int, root: Path | None = None, follow: bool = True) -> int:
    """``path`` open for reading: a regular file (inside ``root``) of at most ``max_bytes``."""
    if root is not None and not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
        raise RunFolderError(f"{path}: leads outside {root}, refused")
    try:
        fd = open_regular(path, follow=follow)
    except FileNotFoundError:
        raise RunFolderError(f"{path}: missing") from None
    if (size := os.fstat(fd).st_size) > max_bytes:
        os.close(fd)
        raise RunFolderError(f"{path}: {size} bytes, more than the {max_bytes} allowed")
    return fd


def read_bounded(
    path: Path, max_bytes: int, root: Path | None = None, follow: bool = True
) -> bytes:
    """The bytes of ``path``: a regular file (inside ``root``) of at most ``max_bytes``."""
    with open(open_bounded(path, max_bytes, root, follow), "rb") as stream:
        try:
            data = stream.read(max_bytes + 1)
        except OSError as exc:
            raise RunFolderError(f"{path}: unreadable ({exc.strerror})") from None
    if len(data) > max_bytes:  # grew while being read
        raise RunFolderError(f"{path}: more than the {max_bytes} bytes allowed")
    return data


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and objects in ``value`` nest deeper than ``limit`` (no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            stack.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return False


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not a JSON number")


def read_json_object(path: Path, max_bytes: int, root: Path | None = None) -> dict[str, Any]:
    """A JSON object (no NaN or Infinity) from ``path`` (see ``read_bounded``)."""
    data = read_bounded(path, max_bytes, root)
    try:
        payload = json.loads(data.decode("utf-8"), parse_constant=_not_json)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise RunFolderError(sanitize(f"{path}: not JSON ({type(exc).__name__}: {exc})")) from None
    if not isinstance(payload, dict):
        raise RunFolderError(f"{path}: expected a JSON object, found {type(payload).__name__}")
    if too_deep(payload):
        raise RunFolderError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    return payload
