"""One pipeline process at a time per runs folder: ``flock`` on ``<runs_dir>/.pipeline.lock``.

The kernel drops the lock when its process ends, however it ends (``kill -9`` included), so
a lock is never stale. While held, the file holds a record of its holder (pid, host, since,
command), so a refused process can say who holds the folder. ``flock`` works across
machines on NFS (Linux emulates it with byte-range locks). A file system that cannot lock
at all is refused with a message saying so, instead of running unprotected; so is a mount
whose locks stay on this client (NFS with ``nolock`` or ``local_lock=all|flock``, CIFS with
``nobrl``, read from ``/proc/self/mountinfo``), which another machine would never see.
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
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from milk_forecast.run_folder.layout import LOCK_FILE
from milk_forecast.runner.clock import Clock, SystemClock, isoformat, utc_now

Log = Callable[[str], None]
MOUNTINFO = Path("/proc/self/mountinfo")
# Mount options, per file system type, under which locks are kept by the client only.
LOCAL_ONLY_LOCKS = {
    "nfs": ("nolock", "local_lock=all", "local_lock=flock"),
    "nfs4": ("local_lock=all", "local_lock=flock"),
    "cifs": ("nobrl",),
    "smb3": ("nobrl",),
}


class LockError(Exception):
    """The runs folder lock could not be taken (the file system cannot lock, or no access)."""


class LockHeldError(LockError):
    """Another process holds the lock; ``holder`` is its record (None when unreadable)."""

    def __init__(self, message: str, holder: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.holder = holder


class RunsLock:
    """The runs folder's lock for the duration of a ``with`` block. ``LockHeldError`` when
    another process holds it: at once, or with ``wait`` once ``stopped()`` (it tries again
    every ``poll`` seconds)."""

    def __init__(
        self,
        runs_dir: Path,
        wait: bool = False,
        poll: float = 2.0,
        *,
        command: str | None = None,
        log: Log = print,
        clock: Clock | None = None,
        stopped: Callable[[], bool] = lambda: False,
        mountinfo: Path = MOUNTINFO,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / LOCK_FILE
        self.wait = wait
        self.poll = poll
        self.command = command if command is not None else shlex.join(sys.argv)
        self.log = log
        self.clock = clock or SystemClock(stopped)
        self.stopped = stopped
        self.mountinfo = mountinfo
        self.record: dict[str, Any] | None = None
        self._handle: IO[str] | None = None

    def __enter__(self) -> RunsLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        refuse_local_only_locks(self.runs_dir, self.mountinfo)
        announced = False
        while not self._try_lock():
            holder, held_by = holder_of(self.path)
            if not self.wait:
                raise LockHeldError(f"{held_by}; wait for it with --wait, or let it finish", holder)
            if self.stopped():
                raise LockHeldError(f"stopped while waiting: {held_by}", holder)
            if not announced:
                self.log(f"waiting for the lock: {held_by}")
                announced = True
            self.clock.sleep(self.poll)

    def release(self) -> None:
        if self._handle is None:
            return
        with contextlib.suppress(OSError):  # the record is informative; the lock is what counts
            self._handle.truncate(0)
        fcntl.flock(self._handle, fcntl.LOCK_UN)
        self._handle.close()
        self._handle, self.record = None, None

    def _try_lock(self) -> bool:
        handle = _open_lock_file(self.path)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            handle.close()
            if isinstance(exc, BlockingIOError):  # held by another process
                return False
            raise LockError(_cannot_lock(self.path, exc)) from None
        self._handle = handle
        self.record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": isoformat(utc_now()),
            "command": self.command,
        }
        with contextlib.suppress(OSError):  # informative only: a full disk must not stop us
            handle.truncate(0)
            handle.write(json.dumps(self.record))
            handle.flush()
        return True


def _open_lock_file(path: Path) -> IO[str]:
    """The lock file opened for writing, created if needed, never truncated by opening."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LockError(f"cannot open the lock file {path}: {exc.strerror or exc}") from None
    return os.fdopen(fd, "r+", encoding="utf-8")


def _cannot_lock(path: Path, exc: OSError) -> str:
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
        return (
            f"cannot lock {path}: the file system of the runs folder does not support "
            f"file locks ({reason}); put the runs folder on a local disk or a shared file "
            "system with locking (NFSv4, a cloud file share with lock support)"
        )
    return f"cannot lock {path}: {reason}"


@dataclass(frozen=True)
class Mount:
    """One line of ``/proc/self/mountinfo`` (see proc(5)): where, which file system, options."""

    point: str
    fs_type: str
    source: str
    options: frozenset[str]


def parse_mount(line: str) -> Mount | None:
    fields = line.split()
    if "-" not in fields[6:]:
        return None
    separator = fields.index("-", 6)
    if len(fields) < separator + 4:
        return None
    fs_type, source, super_options = fields[separator + 1 : separator + 4]
    # A space, tab, newline or backslash in the mount point is an octal escape (``\040``).
    point = re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), fields[4])
    return Mount(point, fs_type, source, frozenset(f"{fields[5]},{super_options}".split(",")))


def refuse_local_only_locks(runs_dir: Path, mountinfo: Path = MOUNTINFO) -> None:
    """LockError when the runs folder is on a mount whose locks other machines never see."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:  # not Linux, or /proc not mounted: nothing to tell
        return
    resolved = runs_dir.resolve()  # the runs folder may not exist yet: its nearest parent
    target = next(path for path in (resolved, *resolved.parents) if path.exists())
    holding = [m for m in map(parse_mount, lines) if m and target.is_relative_to(m.point)]
    # The innermost mount; of two on one point, the later (it hides the other).
    mount = max(reversed(holding), key=lambda m: len(m.point), default=None)
    if mount is None:
        return
    for option in LOCAL_ONLY_LOCKS.get(mount.fs_type, ()):
        if option in mount.options:
            raise LockError(
                f"cannot lock {runs_dir / LOCK_FILE} safely: the runs folder is on "
                f"{mount.fs_type} mount {mount.point} ({mount.source}) with {option!r}, "
                "so its locks are local to this machine and a pipeline on another machine "
                "sharing the folder would not see them; remount without it (NFS: the default "
                "local_lock=none with the lock service; CIFS: without nobrl) or use a local disk"
            )


def read_lock(path: Path) -> dict[str, Any] | None:
    """The holder record in the lock file; None when there is none (free, or being written)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):  # ValueError: not UTF-8, not JSON
        return None
    return record if isinstance(record, dict) else None


def holder_of(path: Path) -> tuple[dict[str, Any] | None, str]:
    """The holder's record and who holds the lock, in words: pid, host, since, command."""
    holder = read_lock(path)
    if holder is None:
        return None, (
            f"runs folder {path.parent} is locked by another process (its record in {path} "
            "is being written or unreadable)"
        )
    text = (
        f"runs folder {path.parent} is locked by pid {holder.get('pid')} on host "
        f"{holder.get('host')} since {holder.get('started_at')} "
        f"(command: {holder.get('command')})"
    )
    return holder, text
