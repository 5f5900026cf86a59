"""The service's view of the runs folder: the run folder layer's guarded reads, bounded.

(Transitional adapter: the service rewrite reads through ``milk_forecast.run_folder``.)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from milk_forecast.run_folder import latest
from milk_forecast.run_folder.files import MAX_DEPTH, excerpt, read_bounded, sanitize, too_deep
from milk_forecast.run_folder.layout import RunFolderError, is_valid_run_id
from milk_forecast.run_folder.record import MAX_RUN_JSON_BYTES, is_run_folder

T = TypeVar("T")
RefusedError = RunFolderError
MAX_CHART_BYTES = 2 * 1024 * 1024
MAX_REPORT_BYTES = 16 * 1024 * 1024
MAX_METRICS_BYTES = 2 * 1024 * 1024
__all__ = ["MAX_DEPTH", "MAX_RUN_JSON_BYTES", "excerpt", "sanitize", "too_deep"]


class RunsFolder:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def regular_file(self, path: Path, max_bytes: int) -> Path:
        read_bounded(path, 0 if False else max_bytes, self.path)
        return path

    def read(self, path: Path, reader: Callable[[Path, Path], T], max_bytes: int) -> T:
        return reader(path, self.path)

    def read_bytes(self, path: Path, max_bytes: int) -> bytes:
        return read_bounded(path, max_bytes, self.path)

    def run_dir(self, run_id: str) -> Path:
        if not is_valid_run_id(run_id):
            raise RefusedError(f"{excerpt(run_id)} is not a run id")
        path = self.path / run_id
        if not is_run_folder(path):
            raise RefusedError(f"{path}: no such run folder")
        return path

    def latest_stamp(self) -> tuple[int, int, int, int] | None:
        return latest.latest_stamp(self.path)

    def read_latest(self) -> str | None:
        return latest.read_latest(self.path)
