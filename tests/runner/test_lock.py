from __future__ import annotations

import errno
import fcntl
import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from milk_forecast.run_folder.layout import LOCK_FILE
from milk_forecast.runner.lock import LockError, LockHeldError, RunsLock
from milk_forecast.runner.signals import Interrupts

HOLDER = """
import sys
from pathlib import Path
from milk_forecast.runner.lock import RunsLock
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


def lock_record(runs_dir: Path) -> dict | None:
    """The holder record in the runs folder's lock file; None when it is empty (free)."""
    text = (runs_dir / LOCK_FILE).read_text(encoding="utf-8")
    return json.loads(text) if text else None


def take(lock: RunsLock) -> None:
    """Take ``lock`` and let it go at once."""
    with lock:
        pass


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


def test_wait_gets_the_lock_after_the_holder_releases(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    lines: list[str] = []
    clock = StepClock(on_sleep=lambda: release(holder))
    with RunsLock(tmp_path, wait=True, poll=0.5, clock=clock, log=lines.append):
        assert lock_record(tmp_path)["pid"] == os.getpid()
    assert clock.slept == [0.5]
    assert lines and f"pid {holder.pid}" in lines[0]
    assert lock_record(tmp_path) is None  # released: the record is emptied


def test_wait_ends_when_stop_is_set(tmp_path: Path, holder: subprocess.Popen[str]) -> None:
    stop = Interrupts()
    clock = StepClock(on_sleep=lambda: stop.request_stop())
    lock = RunsLock(
        tmp_path, wait=True, poll=1, clock=clock, stopped=stop.stopped, log=lambda _: None
    )
    with pytest.raises(LockHeldError, match="stopped while waiting"):
        take(lock)


def write_lock(path: Path, pid: int, host: str, **extra: object) -> dict[str, object]:
    record = {"pid": pid, "host": host, "started_at": "2026-01-01T00:00:00Z", "command": "old"}
    record.update(extra)
    path.write_text(json.dumps(record), encoding="utf-8")
    return record


@pytest.mark.parametrize("host", [socket.gethostname(), "some-other-host"])
def test_a_record_left_by_a_dead_holder_does_not_block(tmp_path: Path, host: str) -> None:
    # No process holds the flock: whatever the file says, the folder is free.
    write_lock(tmp_path / LOCK_FILE, dead_pid(), host)
    with RunsLock(tmp_path, log=lambda _: None):
        assert lock_record(tmp_path)["pid"] == os.getpid()
        assert lock_record(tmp_path)["host"] == socket.gethostname()


def test_a_holder_killed_hard_leaves_nothing_stale(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    with pytest.raises(LockHeldError):
        take(RunsLock(tmp_path))
    holder.kill()  # SIGKILL: no cleanup code runs, the kernel drops the flock
    holder.wait()
    with RunsLock(tmp_path, log=lambda _: None):
        assert lock_record(tmp_path)["pid"] == os.getpid()


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    with RunsLock(tmp_path), pytest.raises(LockHeldError, match=f"pid {os.getpid()}"):
        take(RunsLock(tmp_path))


def test_a_held_lock_with_an_unreadable_record_is_still_held(
    tmp_path: Path, holder: subprocess.Popen[str]
) -> None:
    (tmp_path / LOCK_FILE).write_text("not json", encoding="utf-8")
    with pytest.raises(LockHeldError, match="is being written or unreadable"):
        take(RunsLock(tmp_path))


def test_release_empties_the_record_and_frees_the_folder(tmp_path: Path) -> None:
    with RunsLock(tmp_path / "runs", log=lambda _: None):
        assert lock_record(tmp_path / "runs")["pid"] == os.getpid()
    assert lock_record(tmp_path / "runs") is None
    take(RunsLock(tmp_path / "runs"))  # free again


def test_a_file_system_without_locks_is_refused_clearly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_locks(handle: object, operation: int) -> None:
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(LockError, match="does not support file locks") as info:
        take(RunsLock(tmp_path))
    assert not isinstance(info.value, LockHeldError)


def fake_mountinfo(tmp_path: Path, *lines: str) -> Path:
    """A mountinfo file: the root on ext4, then ``lines`` (``mount point`` ``fs`` ``options``)."""
    rows = ["22 1 8:1 / / rw,relatime - ext4 /dev/sda1 rw"]
    for number, line in enumerate(lines, start=30):
        point, fs_type, options = line.split()
        rows.append(
            f"{number} 22 0:{number} / {point} rw,relatime shared:1 - {fs_type} srv:/x {options}"
        )
    path = tmp_path / "mountinfo"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fs_type", "options", "culprit"),
    [
        ("nfs", "rw,vers=3,nolock,local_lock=all,addr=10.0.0.1", "nolock"),
        ("nfs", "rw,vers=3,local_lock=flock,addr=10.0.0.1", "local_lock=flock"),
        ("nfs4", "rw,vers=4.1,local_lock=all", "local_lock=all"),
        ("cifs", "rw,vers=3.0,nobrl", "nobrl"),
    ],
)
def test_a_mount_whose_locks_stay_local_is_refused_naming_the_option(
    tmp_path: Path, fs_type: str, options: str, culprit: str
) -> None:
    runs_dir = tmp_path / "share" / "runs"  # not created yet: its parent's mount counts
    (tmp_path / "share").mkdir()
    mountinfo = fake_mountinfo(tmp_path, f"{tmp_path / 'share'} {fs_type} {options}")
    with pytest.raises(LockError, match=culprit) as info:
        take(RunsLock(runs_dir, mountinfo=mountinfo))
    assert str(tmp_path / "share") in str(info.value) and fs_type in str(info.value)
    assert not (runs_dir / LOCK_FILE).exists()


def test_a_mount_with_shared_locks_or_another_mount_is_accepted(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    mountinfo = fake_mountinfo(
        tmp_path,
        f"{shared} nfs rw,vers=3,local_lock=none,addr=10.0.0.1",
        f"{tmp_path / 'elsewhere'} nfs rw,vers=3,nolock",
        f"{tmp_path / 'sharedx'} nfs rw,vers=3,nolock",  # a sibling with a common prefix
    )
    with RunsLock(shared / "runs", mountinfo=mountinfo):
        assert lock_record(shared / "runs")["pid"] == os.getpid()


def test_the_innermost_mount_decides_and_escaped_paths_are_read(tmp_path: Path) -> None:
    outer, inner = tmp_path / "nfs", tmp_path / "nfs" / "my runs"
    inner.mkdir(parents=True)
    mountinfo = fake_mountinfo(tmp_path, f"{outer} nfs rw,nolock")
    with mountinfo.open("a", encoding="utf-8") as handle:
        escaped = str(inner).replace(" ", "\\040")
        handle.write(f"40 30 0:40 / {escaped} rw - ext4 /dev/sdb1 rw\n")
    with RunsLock(inner, mountinfo=mountinfo):
        pass
    with pytest.raises(LockError, match="nolock"):
        take(RunsLock(outer, mountinfo=mountinfo))


def test_no_mountinfo_means_no_mount_check(tmp_path: Path) -> None:
    with RunsLock(tmp_path / "runs", mountinfo=tmp_path / "absent"):
        pass
