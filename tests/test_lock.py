from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from milk_forecast.lock import LOCK_FILE, LockHeldError, RunsLock, process_start, read_lock
from milk_forecast.scheduler import StopFlag

HOLDER = """
import sys
from pathlib import Path
from milk_forecast.lock import RunsLock
with RunsLock(Path(sys.argv[1]), command="holder process"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """A second real process holding the lock on ``tmp_path`` until a line arrives on stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "locked\n"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def release(proc: subprocess.Popen[str]) -> None:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    assert proc.wait() == 0


class StepClock:
    """A clock that advances by the slept amount and runs ``on_sleep`` at each sleep."""

    def __init__(self, on_sleep: Callable[[], None] | None = None) -> None:
        self.current = datetime(2026, 1, 1, tzinfo=UTC)
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def now(self) -> datetime:
        return self.current

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.current += timedelta(seconds=seconds)
        if self.on_sleep is not None:
            self.on_sleep()


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_second_process_is_refused_with_who_holds_it(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockHeldError) as info, RunsLock(tmp_path):
        pytest.fail("must not get the lock while another process holds it")
    message = str(info.value)
    assert f"pid {holder.pid}" in message
    assert socket.gethostname() in message
    assert "holder process" in message
    assert "--wait" in message
    assert info.value.holder is not None and info.value.holder["pid"] == holder.pid


def test_wait_gets_the_lock_after_the_holder_releases(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lines: list[str] = []
    clock = StepClock(on_sleep=lambda: release(holder))
    with RunsLock(tmp_path, wait=True, poll=0.5, clock=clock, log=lines.append) as lock:
        assert read_lock(tmp_path / LOCK_FILE) == lock.record
        assert lock.record is not None and lock.record["pid"] == os.getpid()
    assert clock.slept == [0.5]
    assert lines and f"pid {holder.pid}" in lines[0]
    assert not (tmp_path / LOCK_FILE).exists()


def test_wait_gives_up_after_the_timeout(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    clock = StepClock()
    lock = RunsLock(tmp_path, wait=True, poll=2, timeout=5, clock=clock, log=lambda _: None)
    with pytest.raises(LockHeldError, match=f"gave up after waiting 6 s: .*pid {holder.pid}"):
        lock.acquire()
    assert clock.slept == [2, 2, 2]


def test_wait_ends_when_stop_is_set(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    stop = StopFlag()
    clock = StepClock(on_sleep=stop.set)
    lock = RunsLock(tmp_path, wait=True, poll=1, clock=clock, stop=stop, log=lambda _: None)
    with pytest.raises(LockHeldError, match="stopped while waiting"):
        lock.acquire()


def write_lock(path: Path, pid: int, host: str, **extra: object) -> dict[str, object]:
    record = {"pid": pid, "host": host, "started_at": "2026-01-01T00:00:00Z", "command": "old"}
    record.update(extra)
    path.write_text(json.dumps(record), encoding="utf-8")
    return record


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    pid = dead_pid()
    write_lock(tmp_path / LOCK_FILE, pid, socket.gethostname())
    lines: list[str] = []
    with RunsLock(tmp_path, log=lines.append):
        assert read_lock(tmp_path / LOCK_FILE)["pid"] == os.getpid()
    assert any("stale" in line and f"pid {pid}" in line for line in lines)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.skipif(process_start(os.getpid()) is None, reason="needs Linux /proc")
def test_a_lock_whose_pid_was_reused_is_stale(tmp_path: Path) -> None:
    # A restarted container runs the pipeline with the old pid: alive, but not the holder.
    write_lock(tmp_path / LOCK_FILE, os.getpid(), socket.gethostname(), pid_start="1")
    lines: list[str] = []
    with RunsLock(tmp_path, log=lines.append) as lock:
        assert read_lock(tmp_path / LOCK_FILE) == lock.record
    assert any("took over stale lock" in line for line in lines)


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with RunsLock(tmp_path), pytest.raises(LockHeldError, match=f"pid {os.getpid()}"):
        RunsLock(tmp_path).acquire()


def test_a_lock_from_another_host_is_held(tmp_path: Path) -> None:
    write_lock(tmp_path / LOCK_FILE, dead_pid(), "some-other-host")
    with pytest.raises(LockHeldError, match="cannot be checked"):
        RunsLock(tmp_path).acquire()


def test_a_damaged_lock_file_is_held_and_named(tmp_path: Path) -> None:
    (tmp_path / LOCK_FILE).write_text("not json", encoding="utf-8")
    with pytest.raises(LockHeldError, match=r"\.pipeline\.lock is unreadable"):
        RunsLock(tmp_path).acquire()


def test_release_removes_only_our_own_lock(tmp_path: Path) -> None:
    lock = RunsLock(tmp_path / "runs", log=lambda _: None)
    lock.acquire()
    path = tmp_path / "runs" / LOCK_FILE
    assert path.exists()
    lock.release()
    assert not path.exists()

    lines: list[str] = []
    lock = RunsLock(tmp_path / "runs", log=lines.append)
    lock.acquire()
    replaced = write_lock(path, 12345, "elsewhere")
    lock.release()
    assert read_lock(path) == replaced
    assert "no longer ours" in lines[0]


def test_take_over_puts_back_a_live_lock_that_replaced_the_stale_one(tmp_path: Path) -> None:
    # Race: between our read of the stale lock and our rename, a contender took it over.
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started_at": "x", "command": "old"}
    live = write_lock(tmp_path / LOCK_FILE, os.getpid() + 1, "contender-host")
    RunsLock(tmp_path, log=lambda _: None)._take_over(stale)
    assert read_lock(tmp_path / LOCK_FILE) == live
    assert [p.name for p in tmp_path.iterdir()] == [LOCK_FILE]
