"""The run history the API answers (/api/runs, /api/runs/{run_id}), kept in memory.

A ``RunIndex`` scans the runs folder at most once per ``interval`` seconds (the request
that claims the scan runs it off the event loop; the others answer the rows they have,
or wait for the first scan): a run whose ``run.json`` did not change since the
last scan (same inode, mtime and size) keeps its row, so a scan of 500 runs costs about
500 ``stat`` calls. The /api/runs body is encoded once per scan (and per served run), so
answering it costs what answering a prediction costs. One run's details are read through
the guarded ``RunsFolder`` (bounded, regular files, inside the runs folder) and cached
while their files stay the same. A malformed ``run.json`` (too big, too deep, a list
where an object belongs, a pid no process can have) becomes a row saying so, never a 500.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from milk_forecast.run_folder.files import read_json_object
from milk_forecast.run_folder.layout import (
    METRICS_FILE,
    PUBLICATIONS_FILE,
    RUN_JSON,
    is_valid_run_id,
)
from milk_forecast.run_folder.publications import read_publications
from milk_forecast.run_folder.record import (
    INCOMPLETE,
    RUNNING,
    data_source,
    effective_status,
    read_run_record,
)
from milk_forecast.service import guard
from milk_forecast.service.guard import RefusedError, RunsFolder
from milk_forecast.service.serving import (
    ApiError,
    check_run_id,
    dumps,
    flat_object,
    short_text,
)

logger = logging.getLogger(__name__)
MAX_PID = 2**22  # Linux's highest pid_max; a larger pid names no process
DETAIL_CACHE = 64  # run details kept encoded

Stamp = tuple[int, int, int] | None
Publications = tuple[dict[str, str], ...]


def _stamp(path: os.PathLike | str) -> Stamp:
    try:
        info = os.lstat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_mtime_ns, info.st_size)


def _read_record(folder: RunsFolder, run_id: str) -> dict[str, Any]:
    path = folder.run_dir(run_id) / RUN_JSON
    return read_run_record(path.parent, folder.path)


def run_row(run_id: str, record: dict[str, Any] | None, problem: str | None) -> dict[str, Any]:
    """One line of /api/runs (without ``served``)."""
    record = record or {}
    error = {"message": problem} if problem else flat_object(record.get("error"))
    return {
        "run_id": run_id,
        "status": effective_status(record) if record else INCOMPLETE,
        "started_at": short_text(record.get("started_at")),
        "finished_at": short_text(record.get("finished_at")),
        "data_source": data_source(record.get("synthetic_sample")),
        "headline": flat_object(record.get("headline")),
        "error": error,
    }


class RunIndex:
    """Every run of the runs folder, newest first, refreshed at most once per ``interval``."""

    def __init__(
        self,
        folder: RunsFolder,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = folder
        self.interval = interval
        self._clock = clock
        self._next_scan = 0.0
        self._rows: dict[str, tuple[Stamp, dict[str, Any]]] = {}
        self._publications: Publications = ()
        self._publications_stamp: object = None
        self._body: tuple[dict, Publications, str | None, bytes] | None = None
        self._scanning = threading.Lock()
        self.built = threading.Event()  # set once the first scan is done
        self._details: OrderedDict[str, tuple[object, bytes]] = OrderedDict()
        self._details_lock = threading.Lock()

    def claim(self) -> bool:
        """True at most once per ``interval`` (a ``scan`` counts as one): the caller scans."""
        now = self._clock()
        if now < self._next_scan:
            return False
        self._next_scan = now + self.interval
        return True

    @property
    def rows(self) -> dict[str, tuple[Stamp, dict[str, Any]]]:
        """run id -> (run.json stamp, row), newest first; the same object while unchanged."""
        return self._rows

    @property
    def publications(self) -> Publications:
        """The publication log, newest first; the same object while the log is unchanged."""
        return self._publications

    def scan(self) -> None:
        """Rebuild the rows from the runs folder (one scan at a time; others keep the old rows).

        A scan counts as the one of its interval: ``claim`` says no until the next is due.
        """
        self._next_scan = self._clock() + self.interval
        with self._scanning:
            try:
                rows = {run_id: self._row(run_id) for run_id in self._run_ids()}
                if rows != self._rows:
                    self._rows = rows
                self._read_publications()
            finally:
                self.built.set()

    def _read_publications(self) -> None:
        """Re-read the publication log when it changed; a refused one is logged, and empty."""
        path = self.folder.path / PUBLICATIONS_FILE
        stamp = _stamp(path)
        if stamp == self._publications_stamp:
            return
        self._publications_stamp = stamp
        entries, notes = read_publications(self.folder.path)
        for note in notes:
            logger.warning("publication log: %s", guard.sanitize(note))
        publications = tuple(reversed(entries))
        if publications != self._publications:
            self._publications = publications

    def _run_ids(self) -> list[str]:
        try:
            names = [entry.name for entry in os.scandir(self.folder.path)]
        except OSError:
            return []
        return sorted((n for n in names if is_valid_run_id(n)), reverse=True)

    def _row(self, run_id: str) -> tuple[Stamp, dict[str, Any]]:
        """The cached row while run.json is unchanged (its status re-derived), else a fresh one."""
        stamp = _stamp(self.folder.path / run_id / RUN_JSON)
        cached = self._rows.get(run_id)
        if cached is not None and cached[0] == stamp and stamp is not None:
            row = cached[1]
            if row["status"] not in (RUNNING, INCOMPLETE):
                return cached
        try:
            return stamp, run_row(run_id, _read_record(self.folder, run_id), None)
        except RefusedError as exc:
            return stamp, run_row(run_id, None, str(exc))

    def list_body(self, served_id: str | None) -> bytes:
        """The /api/runs body: every run, newest first, which one is served, the publications."""
        rows, publications, cached = self._rows, self._publications, self._body
        if (
            cached is not None
            and cached[0] is rows
            and cached[1] is publications
            and cached[2] == served_id
        ):
            return cached[3]
        listed = [{**row, "served": run_id == served_id} for run_id, (_, row) in rows.items()]
        body = dumps(
            {"served_run_id": served_id, "runs": listed, "publications": list(publications)}
        )
        self._body = (rows, publications, served_id, body)
        return body

    def detail_body(self, run_id: str, served_id: str | None) -> bytes:
        """The /api/runs/{run_id} body: its run.json and metrics.json; 404 for unknown ids."""
        check_run_id(run_id)
        try:
            run_dir = self.folder.run_dir(run_id)
        except RefusedError:
            raise ApiError(
                404, "unknown_run", f"there is no run {run_id} in {self.folder.path}"
            ) from None
        key = (
            _stamp(run_dir / RUN_JSON),
            _stamp(run_dir / METRICS_FILE),
            run_id == served_id,
        )
        with self._details_lock:
            cached = self._details.get(run_id)
        if cached is not None and cached[0] == key:
            return cached[1]
        body = dumps(self._detail(run_id, run_id == served_id))
        with self._details_lock:
            self._details[run_id] = (key, body)
            self._details.move_to_end(run_id)
            while len(self._details) > DETAIL_CACHE:
                self._details.popitem(last=False)
        return body

    def _detail(self, run_id: str, served: bool) -> dict[str, Any]:
        record, error, metrics = None, None, None
        try:
            record = _read_record(self.folder, run_id)
        except RefusedError as exc:
            error = str(exc)
        path = self.folder.path / run_id / METRICS_FILE
        try:
            metrics = read_json_object(path, guard.MAX_METRICS_BYTES, self.folder.path)
        except RefusedError:
            metrics = None
        if metrics is not None and guard.too_deep(metrics):
            metrics = None
        return {
            "run_id": run_id,
            "status": effective_status(record) if record else INCOMPLETE,
            "served": served,
            "run": record,
            "metrics": metrics,
            "error": error,
        }
