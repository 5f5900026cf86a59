"""Time for the runner: UTC now, timestamps as written in run.json, human durations, a clock.

``Clock`` is injected into the schedule loop and the lock so tests drive them without
waiting; ``SystemClock`` is the real one, whose sleep returns early when asked to stop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


def utc_now() -> datetime:
    return datetime.now(UTC)


def isoformat(moment: datetime) -> str:
    """UTC timestamp as ISO 8601 with a ``Z`` suffix, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_seconds(seconds: float) -> str:
    """A short human duration: ``45s``, ``3m 05s``, ``2h 07m``, ``3d 04h``."""
    total = max(round(seconds), 0)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (may return early when a stop is requested)."""
        ...


class SystemClock:
    """The real clock: UTC now, and a sleep in short slices that returns early on ``stopped()``."""

    def __init__(self, stopped: Callable[[], bool] = lambda: False, slice_s: float = 0.2) -> None:
        self.stopped = stopped
        self.slice_s = slice_s

    def now(self) -> datetime:
        return utc_now()

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(seconds, 0.0)
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, self.slice_s))
