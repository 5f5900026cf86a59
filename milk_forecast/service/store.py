"""The one run a service process serves, and when it changes.

A ``RunStore`` loads the run ``runs/LATEST`` names at start-up and again whenever
``LATEST`` itself is replaced: looking costs one ``lstat`` of ``LATEST``, at most once
every ``reload_interval`` seconds; the load runs off the event loop (see app.py) while the
other requests keep being answered from the current run, then the single reference is
swapped. A run (or a ``LATEST``) that cannot be served is refused with one log line
naming the file and the reason; the previous run keeps serving. Publishing ``LATEST``
again (a new inode, mtime or size), even naming the same refused run once it is repaired,
makes the store look again; ``LATEST`` naming the run already served changes nothing.
The store counts the runs it loaded (``reloads``, the first one included) and the looks
it refused (``refusals``), for /metrics.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from milk_forecast.run_folder.layout import LATEST
from milk_forecast.service import served_run
from milk_forecast.service.guard import RefusedError, RunsFolder
from milk_forecast.service.served_run import ServedRun
from milk_forecast.service.serving import RUN_HINT, ApiError

logger = logging.getLogger(__name__)


class RunStore:
    """The served run of one process: loaded at start-up, swapped when LATEST changes."""

    def __init__(
        self,
        runs_dir: Path,
        reload_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = RunsFolder(runs_dir)
        self.reload_interval = reload_interval
        self._clock = clock
        self._next_check = 0.0
        self._stamp: object = None
        self._served: ServedRun | None = None
        self._refusal: str | None = None
        self._loading = threading.Lock()
        self.reloads = 0  # runs loaded and swapped in, the first one included
        self.refusals = 0  # looks at LATEST that refused a run (or LATEST itself)

    @property
    def runs_dir(self) -> Path:
        return self.folder.path

    @property
    def served(self) -> ServedRun | None:
        return self._served

    @property
    def refusal(self) -> str | None:
        """Why the last look at LATEST served nothing new (None after a successful load)."""
        return self._refusal

    def due(self) -> bool:
        """True at most once per ``reload_interval``: time to look at LATEST again."""
        now = self._clock()
        if now < self._next_check:
            return False
        self._next_check = now + self.reload_interval
        return True

    def changed(self) -> bool:
        """Whether LATEST was replaced since the last refresh (one lstat)."""
        return self.folder.latest_stamp() != self._stamp

    def refresh(self) -> bool:
        """Serve the run LATEST names if LATEST changed and the run loads; True on a swap."""
        stamp = self.folder.latest_stamp()
        if stamp == self._stamp or not self._loading.acquire(blocking=False):
            return False
        try:
            self._stamp = stamp
            return self._load_latest()
        finally:
            self._loading.release()

    def _load_latest(self) -> bool:
        subject = LATEST
        try:
            run_id = self.folder.read_latest()
            current = self._served
            if run_id is None or (current is not None and current.run_id == run_id):
                return False
            subject = f"run {run_id}"
            served = served_run.load_served_run(self.folder, run_id)
        except RefusedError as exc:
            self._refuse(subject, str(exc))
            return False
        self._served = served  # the one atomic swap: requests see the old run or the new one
        self._refusal = None
        self.reloads += 1
        logger.info("serving run %s from %s", run_id, self.runs_dir)
        return True

    def _refuse(self, subject: str, reason: str) -> None:
        """Log one line for a refused run (or LATEST) and keep it for the 503 message."""
        self._refusal = f"refused {subject}: {reason}"
        self.refusals += 1
        current = self._served.run_id if self._served else "nothing"
        logger.error("%s (still serving %s)", self._refusal, current)

    def no_run_error(self) -> ApiError:
        """The 503 answered while no run is served, saying how to make one."""
        message = f"no succeeded run is being served from {self.runs_dir}: {RUN_HINT}"
        if self._refusal:
            message += f"; {self._refusal}"
        return ApiError(503, "no_run", message, hint=RUN_HINT)
