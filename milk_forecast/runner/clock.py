"""Time for the runner: UTC timestamps as run.json writes them, human durations, a clock.

``Clock`` is injected into the schedule loop and the lock so tests drive them without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

SLEEP_SLICE_S = 0.2  # how soon SystemClock.sleep notices a stop


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
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...  # may return early once a stop is requested


class SystemClock:
    """The real clock, whose sleep returns early once ``stopped()``."""

    def __init__(self, stopped: Callable[[], bool]) -> None:
        self.stopped = stopped

    def now(self) -> datetime:
        return utc_now()

    def sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + max(seconds, 0.0)
        while not self.stopped():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            time.sleep(min(remaining, SLEEP_SLICE_S))
