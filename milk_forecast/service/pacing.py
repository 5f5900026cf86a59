"""Pacing of the cold endpoints, so that no client of them can starve the hot path.

The run history (/api/runs, /api/runs/{run_id}) is answered from memory, but its bodies
are larger than a prediction's and a client hammering it in a loop would still take the
event loop's time from /api/predict. A ``Pacer`` hands out one answer slot every
``1 / rate`` seconds: a request over the budget waits for its slot (waiting costs no CPU,
so a client in a loop is slowed down, not the service), and a request whose slot is more
than ``max_wait`` seconds away is answered 429 at once, so the queue stays short.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from milk_forecast.service.serving import ApiError


class Pacer:
    """At most ``rate`` answers per second (``rate`` 0: no pacing)."""

    def __init__(
        self, rate: float, max_wait: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.max_wait = max_wait
        self._clock = clock
        self._next_slot = 0.0

    def delay(self) -> float:
        """Seconds to wait before answering (0 within the budget); 429 when the queue is full."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        slot = max(now, self._next_slot)
        if slot - now > self.max_wait:
            raise ApiError(
                429,
                "too_many_requests",
                f"the run history is answered at most {self.rate:g} times per second per "
                f"process; retry in {slot - now:.1f} s",
            )
        self._next_slot = slot + 1 / self.rate
        return slot - now
