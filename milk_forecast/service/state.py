"""What a service process holds (the served run, the history, the page) and when it changes.
A request looks at ``runs/LATEST`` (one ``lstat``) at most once per ``interval``; only the
history endpoints rescan the history. A new run is loaded aside in a worker thread, then
swapped in; one that cannot be served is refused in one log line, the previous one serving."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from milk_forecast.run_folder.files import sanitize, stamp
from milk_forecast.run_folder.layout import LATEST, RunFolderError
from milk_forecast.run_folder.publication import read_latest
from milk_forecast.run_folder.servable import load_servable
from milk_forecast.service.answers import ApiError
from milk_forecast.service.history import RunIndex
from milk_forecast.service.page import Page
from milk_forecast.service.served_run import ServedRun

logger = logging.getLogger(__name__)
RUN_HINT = "produce one with `python run_pipeline.py` (it publishes runs/LATEST)"
Clock = Callable[[], float]
MAX_WAIT = 2.0  # seconds a paced request may wait for its turn; past it, a 429


class State:
    """The served run (``run``), the history (``index``), the page (``page.body``); history
    answers at most ``rate`` per second (0: unpaced)."""

    def __init__(
        self, runs_dir: Path, interval: float, rate: float = 0.0, clock: Clock = time.monotonic
    ) -> None:
        self.runs_dir, self.interval, self.rate, self.clock = Path(runs_dir), interval, rate, clock
        self.run: ServedRun | None = None
        self.refusal: str | None = None  # why the last look at LATEST served nothing new
        self.reloads = self.refusals = 0  # runs loaded (the first one included); looks refused
        self.index, self.page = RunIndex(self.runs_dir), Page(self.runs_dir)
        self._next = dict.fromkeys(("look", "scan"), clock() + interval)  # start-up did both
        self._next_turn, self._stamp = 0.0, None
        self._refreshing, self._reloading = threading.Lock(), threading.Lock()

    def due(self, what: str) -> bool:
        """True at most once per ``interval`` for each of "look" (at LATEST) and "scan"."""
        now = self.clock()
        if now < self._next[what]:
            return False
        self._next[what] = now + self.interval
        return True

    def turn(self) -> float:
        """Seconds this history request waits for its turn; a 429 if more than MAX_WAIT."""
        if self.rate <= 0:
            return 0.0
        now = self.clock()
        wait = max(self._next_turn - now, 0.0)
        if wait > MAX_WAIT:
            message = f"the run history is answered at most {self.rate:g} times per second per process; retry in {wait:.1f} s"
            raise ApiError(429, "too_many_requests", message)
        self._next_turn = now + wait + 1 / self.rate
        return wait

    def changed(self) -> bool:
        return stamp(self.runs_dir / LATEST) != self._stamp

    def refresh(self) -> None:
        """Reload, rescan, render the page if what it shows changed; a call during another
        only reloads (never waiting for a scan), and the next history request rescans."""
        if not self._refreshing.acquire(blocking=False):
            self.reload()
            self._next["scan"] = self.clock()
            return
        try:
            self.reload()
            self.index.scan()
            self.page.render(self.run and self.run.page, self.index, self.message())
        except Exception:  # the page or the history: never the reason a prediction fails
            logger.exception("the run history or the page could not be refreshed")
        finally:
            self._refreshing.release()

    def reload(self) -> bool:
        """Serve the run LATEST names if LATEST was written since the last look; True on a swap."""
        with self._reloading:
            return self._reload()

    def _reload(self) -> bool:
        latest = stamp(self.runs_dir / LATEST)
        if latest == self._stamp:
            return False
        self._stamp, subject = latest, "LATEST"
        try:
            run_id = read_latest(self.runs_dir)
            if run_id is None or (self.run is not None and self.run.run_id == run_id):
                return False
            subject = f"run {run_id}"
            run = ServedRun(load_servable(self.runs_dir, run_id))
        except Exception as exc:  # whatever a run folder holds: refuse it, never crash
            reason = str(exc) if isinstance(exc, RunFolderError) else f"{type(exc).__name__}: {exc}"
            self.refusal = f"refused {subject}: {sanitize(reason)}"
            self.refusals += 1
            serving = self.run.run_id if self.run else "nothing"
            logger.error("%s (still serving %s)", self.refusal, serving)
            return False
        self.run, self.refusal, self.reloads = run, None, self.reloads + 1  # the swap
        logger.info("serving run %s from %s", run_id, self.runs_dir)
        return True

    def message(self) -> str:
        """Why no run is served, and how to make one ("" while one is)."""
        if self.run is not None:
            return ""
        refusal = f"; {self.refusal}" if self.refusal else ""
        message = f"no succeeded run is being served: {RUN_HINT}{refusal}"
        return message.replace(str(self.runs_dir), "runs")
