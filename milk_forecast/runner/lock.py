"""One pipeline process at a time per runs folder: ``flock`` on ``<runs_dir>/.pipeline.lock``.

The kernel drops the lock when its process ends, however it ends (``kill -9`` included), so
a lock is never stale; the file only says who holds it (``holder_of``). ``flock`` works
across machines on NFS (Linux emulates it with byte-range locks). A file system that cannot
lock at all is refused with a message saying so, instead of running unprotected; so is a
mount whose locks stay on this client (NFS with ``nolock`` or ``local_lock=all|flock``, CIFS
with ``nobrl``, read from ``/proc/self/mountinfo``), which another machine would never see.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shlex
import socket
import sys
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass, field
from pathlib import Path
from typing import IO

from milk_forecast.run_folder.layout import LOCK_FILE
from milk_forecast.runner.clock import Clock, SystemClock, isoformat, utc_now

MOUNTINFO = Path("/proc/self/mountinfo")
# Mount options, per file system type, under which locks are kept by the client only.
LOCAL_ONLY_LOCKS = {
    "nfs": ("nolock", "local_lock=all", "local_lock=flock"),
    "nfs4": ("local_lock=all", "local_lock=flock"),
    "cifs": ("nobrl",),
    "smb3": ("nobrl",),
}
NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


class LockError(Exception):
    """The runs folder lock could not be taken (the file system cannot lock, or no access)."""


class LockHeldError(LockError):
    """Another process holds the lock: the message says which."""


@dataclass
class RunsLock:
    """The runs folder's lock for the duration of a ``with`` block. ``LockHeldError`` when
    another process holds it: at once, or with ``wait`` once ``stopped()``. A wait tries again
    every ``poll`` seconds rather than block in ``flock``: a signal caught by another thread
    (Prefect has several) would not interrupt that call, and nothing could stop the wait."""

    runs_dir: Path
    wait: bool = False
    poll: float = 2.0
    _: KW_ONLY
    command: str = field(default_factory=lambda: shlex.join(sys.argv))  # the holder's record
    log: Callable[[str], None] = print
    clock: Clock | None = None  # default: the system's, woken by ``stopped``
    stopped: Callable[[], bool] = lambda: False
    mountinfo: Path = MOUNTINFO

    def __post_init__(self) -> None:
        self.path = Path(self.runs_dir) / LOCK_FILE
        self.clock = self.clock or SystemClock(self.stopped)
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunsLock:
        refuse_local_only_locks(self.path.parent, self.mountinfo)
        announced = False
        while not self._try_lock():
            held_by = holder_of(self.path)
            if not self.wait:
                raise LockHeldError(f"{held_by}; wait for it with --wait, or let it finish")
            if self.stopped():
                raise LockHeldError(f"stopped while waiting: {held_by}")
            if not announced:
                self.log(f"waiting for the lock: {held_by}")
                announced = True
            self.clock.sleep(self.poll)
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._handle is not None  # taken by __enter__
        with contextlib.suppress(OSError):  # the record is informative; the lock is what counts
            self._handle.truncate(0)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle = None

    def _try_lock(self) -> bool:
        """Whether the lock was free: it is ours now, with our record in the file."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)  # not truncated: a holder's
        except OSError as exc:
            raise LockError(
                f"cannot open the lock file {self.path}: {exc.strerror or exc}"
            ) from None
        handle = os.fdopen(fd, "r+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if isinstance(exc, BlockingIOError):  # held by another process
                return False
            raise LockError(_cannot_lock(self.path, exc)) from None
        self._handle = handle
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": isoformat(utc_now()),
            "command": self.command,
        }
        with contextlib.suppress(OSError):  # informative only: a full disk must not stop us
            handle.truncate(0)
            handle.write(json.dumps(record))
            handle.flush()
        return True


def _cannot_lock(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in NO_LOCKS:
        return (
            f"cannot lock {path}: the file system of the runs folder does not support "
            f"file locks ({reason}); put the runs folder on a local disk or a shared file "
            "system with locking (NFSv4, a cloud file share with lock support)"
        )
    return f"cannot lock {path}: {reason}"


def mount_of(path: Path, mountinfo: Path) -> tuple[str, str, str, set[str]] | None:
    """The innermost mount holding ``path``, as ``mountinfo`` (proc(5)) lists it: its mount
    point, file system type, source and options; None when unknown (not Linux)."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    mount = None
    for line in lines:  # ID PARENT DEV ROOT POINT OPTIONS [OPTIONAL...] - TYPE SOURCE OPTIONS
        before, _, after = line.partition(" - ")
        fields, fs_fields = before.split(), after.split()
        if len(fields) < 6 or len(fs_fields) < 3:
            continue
        # A space, tab, newline or backslash in the mount point is an octal escape (``\040``).
        point = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), fields[4])
        # Of two mounts on one point, the later hides the earlier.
        if path.is_relative_to(point) and (mount is None or len(point) >= len(mount[0])):
            options = {*fields[5].split(","), *fs_fields[2].split(",")}
            mount = (point, fs_fields[0], fs_fields[1], options)
    return mount


def refuse_local_only_locks(runs_dir: Path, mountinfo: Path = MOUNTINFO) -> None:
    """LockError when the runs folder is on a mount whose locks other machines never see."""
    resolved = runs_dir.resolve()  # the runs folder may not exist yet: its nearest parent
    mount = mount_of(next(p for p in (resolved, *resolved.parents) if p.exists()), mountinfo)
    if mount is None:
        return
    point, fs_type, source, options = mount
    for option in LOCAL_ONLY_LOCKS.get(fs_type, ()):
        if option in options:
            raise LockError(
                f"cannot lock {runs_dir / LOCK_FILE} safely: the runs folder is on "
                f"{fs_type} mount {point} ({source}) with {option!r}, so its locks are local "
                "to this machine and a pipeline on another machine sharing the folder would "
                "not see them; remount without it (NFS: the default local_lock=none with the "
                "lock service; CIFS: without nobrl) or use a local disk"
            )


def holder_of(path: Path) -> str:
    """Who holds the lock, in words, from its record in the file: pid, host, since, command."""
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
        who = (
            f"pid {holder['pid']} on host {holder['host']} since {holder['started_at']} "
            f"(command: {holder['command']})"
        )
    except (OSError, ValueError, TypeError, KeyError):  # being written, or not a record
        who = f"another process (its record in {path} is being written or unreadable)"
    return f"runs folder {path.parent} is locked by {who}"
