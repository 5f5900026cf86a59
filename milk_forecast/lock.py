"""One pipeline process at a time per runs folder: ``<runs_dir>/.pipeline.lock``.

The lock file is created atomically (``O_CREAT | O_EXCL``) and holds JSON
``{pid, host, started_at, command, token, pid_start}``. A lock whose holder is
gone from this host is stale and taken over: it is renamed away (atomic, so only
one contender wins) and checked to be the stale file before the new lock is
created. "Gone" means the pid is dead, or (on Linux) the pid now belongs to a
process started at another time than the holder (``pid_start``, from
``/proc/<pid>/stat``): a restarted container reuses pids. A lock from another
host cannot be checked and is treated as held.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shlex
import socket
import sys
from pathlib import Path
from typing import Any

from milk_forecast.runs import isoformat, pid_alive, utc_now
from milk_forecast.scheduler import Clock, Log, StopFlag, SystemClock

LOCK_FILE = ".pipeline.lock"


class LockError(Exception):
    """The runs folder lock could not be taken or released."""


class LockHeldError(LockError):
    """Another live pipeline process holds the lock; ``holder`` is its lock record."""

    def __init__(self, message: str, holder: dict[str, Any] | None) -> None:
        super().__init__(message)
        self.holder = holder


class RunsLock:
    """Context manager holding ``<runs_dir>/.pipeline.lock`` for the duration of a block.

    ``wait=False`` raises ``LockHeldError`` at once when another live process holds
    the lock; ``wait=True`` polls every ``poll`` seconds until it is free, or until
    ``timeout`` seconds (then ``LockHeldError``) or ``stop`` is set.
    """

    def __init__(
        self,
        runs_dir: Path,
        wait: bool = False,
        poll: float = 2.0,
        timeout: float | None = None,
        *,
        command: str | None = None,
        log: Log = print,
        clock: Clock | None = None,
        stop: StopFlag | None = None,
    ) -> None:
        self.runs_dir = Path(runs_dir)
        self.path = self.runs_dir / LOCK_FILE
        self.wait = wait
        self.poll = poll
        self.timeout = timeout
        self.command = command if command is not None else shlex.join(sys.argv)
        self.log = log
        self.clock = clock or SystemClock(stop)
        self.stop = stop
        self.record: dict[str, Any] | None = None

    def __enter__(self) -> RunsLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock, waiting or taking over a stale one as configured."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        started = self.clock.now()
        announced = False
        while not self._try_create():
            try:
                holder = read_lock(self.path)
            except LockError as exc:  # being written by a contender, or damaged
                holder, held_by = None, str(exc)
            else:
                if holder is None:
                    continue  # released since our attempt: try again
                if self._is_stale(holder):
                    self._take_over(holder)
                    continue
                held_by = describe_holder(self.path, holder)
            if not self.wait:
                raise LockHeldError(held_by + _HOW_TO_WAIT, holder)
            waited = (self.clock.now() - started).total_seconds()
            if self.timeout is not None and waited >= self.timeout:
                raise LockHeldError(f"gave up after waiting {waited:g} s: {held_by}", holder)
            if self.stop is not None and self.stop.is_set():
                raise LockHeldError(f"stopped while waiting: {held_by}", holder)
            if not announced:
                self.log(f"waiting for the lock: {held_by}")
                announced = True
            self.clock.sleep(self.poll)

    def release(self) -> None:
        """Remove the lock file if it is still ours; leave anyone else's alone."""
        if self.record is None:
            return
        try:
            current = read_lock(self.path)
        except LockError:
            current = None
        if current is not None and current.get("token") == self.record["token"]:
            self.path.unlink(missing_ok=True)
        else:
            self.log(f"lock {self.path} is no longer ours ({current}); leaving it in place")
        self.record = None

    def _try_create(self) -> bool:
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": isoformat(utc_now()),
            "command": self.command,
            "token": secrets.token_hex(8),
            "pid_start": process_start(os.getpid()),
        }
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(record, handle)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:  # e.g. interrupted by a signal: leave no half-written lock
            self.path.unlink(missing_ok=True)
            raise
        self.record = record
        return True

    def _is_stale(self, holder: dict[str, Any]) -> bool:
        """Held by a process of this host that is gone (dead, or its pid reused)."""
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int):
            return False
        if not pid_alive(pid):
            return True
        recorded = holder.get("pid_start")
        return recorded is not None and process_start(pid) != recorded

    def _take_over(self, stale: dict[str, Any]) -> None:
        """Move the stale lock away; put it back if a live lock was moved by mistake."""
        aside = self.path.with_name(f"{LOCK_FILE}.stale.{os.getpid()}.{secrets.token_hex(4)}")
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return  # another contender moved it first
        try:
            moved = read_lock(aside)
        except LockError:
            moved = None
        if moved != stale:
            # A contender replaced the stale lock between our read and the rename.
            with contextlib.suppress(FileExistsError):
                os.link(aside, self.path)
            aside.unlink(missing_ok=True)
            return
        aside.unlink(missing_ok=True)
        self.log(
            f"took over stale lock {self.path}: pid {stale.get('pid')} on "
            f"{stale.get('host')} (since {stale.get('started_at')}) is no longer running"
        )


_HOW_TO_WAIT = "; wait for it with --wait, or let it finish"


def process_start(pid: int) -> str | None:
    """When ``pid`` started (clock ticks since boot, Linux ``/proc``); None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError):
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None  # field 22 of proc(5): starttime


def read_lock(path: Path) -> dict[str, Any] | None:
    """The lock record at ``path``; None when there is no lock file.

    A file that is not a JSON object (being written, or damaged) raises ``LockError``
    naming the file, since it cannot tell who holds the lock.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        raise LockError(
            f"lock file {path} is unreadable ({text[:80]!r}); if no pipeline is "
            "running on this runs folder, delete it"
        )
    return record


def describe_holder(path: Path, holder: dict[str, Any]) -> str:
    """Who holds the lock, in words: pid, host, since when, command."""
    text = (
        f"runs folder {path.parent} is locked by pid {holder.get('pid')} on host "
        f"{holder.get('host')} since {holder.get('started_at')} "
        f"(command: {holder.get('command')})"
    )
    if holder.get("host") != socket.gethostname():
        text += (
            f"; that host is not this one ({socket.gethostname()}), so whether it still "
            f"runs cannot be checked: delete {path} only if it does not"
        )
    return text
