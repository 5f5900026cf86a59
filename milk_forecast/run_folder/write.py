"""Writing a run folder so that no reader ever sees half of a file.

Every file is written beside its target, fsynced and renamed over it (``staged_text``
splits that: the content first, the rename when the caller commits), so a reader sees the
old content or the new one and a failed write leaves the old file as it was. The
artefacts' writers read what they wrote back through the artefact's reader. An
``OSError`` names the target file, never a temporary one.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from milk_forecast.run_folder import layout
from milk_forecast.run_folder import metrics as m
from milk_forecast.run_folder import predictions as p
from milk_forecast.run_folder.files import excerpt, is_number, open_regular
from milk_forecast.run_folder.servable import digest


def describe_os_error(exc: OSError) -> str:
    """``No space left on device: /runs/x/run.json``: the OS message, then the file if known."""
    message = exc.strerror or str(exc) or type(exc).__name__
    return f"{message}: {exc.filename}" if isinstance(exc.filename, str | Path) else message


def _naming(path: Path, exc: OSError) -> OSError:
    """``exc`` again, naming ``path`` (the target) rather than a temporary file."""
    return exc if exc.errno is None else type(exc)(exc.errno, exc.strerror, str(path))


@contextmanager
def staged_text(path: Path, text: str) -> Iterator[Callable[[], None]]:
    """Write ``text`` beside ``path`` and fsync it; the yielded ``commit()`` renames it over
    ``path``. Leaving without committing removes the temporary file, ``path`` untouched."""
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise _naming(path, exc) from exc
    committed = False

    def commit() -> None:
        nonlocal committed
        try:
            os.replace(tmp, path)
        except OSError as exc:
            raise _naming(path, exc) from exc
        committed = True

    try:
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                os.fchmod(handle.fileno(), 0o644)
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise _naming(path, exc) from exc
        yield commit
    finally:
        if not committed:
            Path(tmp).unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    with staged_text(path, text) as commit:
        commit()


def write_json_atomic(path: Path, payload: Any, indent: int | None = 2) -> None:
    """``payload`` as JSON, written atomically."""
    write_text_atomic(path, json.dumps(payload, indent=indent, default=str) + "\n")


def create_run_dir(runs_dir: Path, now: datetime) -> tuple[str, Path]:
    """Create a new, empty run folder named for ``now``; unique even within one second."""
    runs_dir.mkdir(parents=True, exist_ok=True)
    stamp = now.astimezone(UTC).strftime(layout.RUN_ID_FORMAT)
    for suffix in [""] + [f"-{n:02d}" for n in range(1, 100)]:
        try:
            (runs_dir / (stamp + suffix)).mkdir()
        except FileExistsError:
            continue
        return stamp + suffix, runs_dir / (stamp + suffix)
    raise layout.RunFolderError(f"more than 100 runs started in {stamp} under {runs_dir}")


def output_digests(run_dir: Path) -> dict[str, str]:
    """The sha256 of each output the run folder holds (``layout.OUTPUT_FILES``), for run.json."""
    digests = {name: digest(Path(run_dir) / name) for name in layout.OUTPUT_FILES}
    return {name: value for name, value in digests.items() if value is not None}


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / layout.RUN_JSON, record)


def staged_latest(runs_dir: Path, run_id: str) -> AbstractContextManager[Callable[[], None]]:
    """``LATEST`` naming ``run_id``, written beside it now; ``commit()`` renames it into place."""
    layout.run_dir_for(runs_dir, run_id)  # validates the id
    return staged_text(Path(runs_dir) / layout.LATEST, run_id + "\n")


@contextmanager
def staged_publication(runs_dir: Path, entry: dict[str, str]) -> Iterator[Callable[[], None]]:
    """A publication as one step: ``LATEST`` naming ``entry["run_id"]`` written beside it and
    ``entry`` appended to the log; the yielded ``commit()`` renames ``LATEST`` into place.
    Leaving without committing removes the staged ``LATEST`` and cuts the line off the log
    again, so ``LATEST`` and the log never disagree. One writer at a time: hold the runs
    folder's lock. ``RunFolderError`` (the log is not a regular file) or ``OSError``: neither
    ``LATEST`` nor the log changed."""
    path, flags = Path(runs_dir) / layout.PUBLICATIONS_FILE, os.O_WRONLY | os.O_APPEND | os.O_CREAT
    with staged_latest(runs_dir, entry["run_id"]) as commit_latest:
        fd = open_regular(path, flags, follow=False)  # never a FIFO, a directory, a symlink
        end, committed = os.fstat(fd).st_size, False

        def commit() -> None:
            nonlocal committed
            commit_latest()
            committed = True

        try:
            os.write(fd, (json.dumps(entry) + "\n").encode("utf-8"))  # one write, appended
            os.fsync(fd)
            yield commit
        finally:
            try:
                if not committed:
                    os.ftruncate(fd, end)
                    os.fsync(fd)
            finally:
                os.close(fd)


def ordered_bounds(levels: Iterable[float]) -> list[str]:
    """The bounds and the prediction, from the widest lower bound to the widest upper."""
    ascending = sorted(levels)
    return [
        *(p.interval_column(p.LOWER, level) for level in reversed(ascending)),
        p.PREDICTED,
        *(p.interval_column(p.UPPER, level) for level in ascending),
    ]


def number_at(path: Path, row: Mapping[str, Any], key: str, where: str) -> float:
    value = row.get(key)
    if not is_number(value):
        raise layout.RunFolderError(
            f"{path}: {where}{key} is {excerpt(value)}, not a finite number"
        )
    return float(value)


def check_bounds(path: Path, row: Any, levels: list[float], where: str) -> None:
    """``row`` holds the prediction and every level's bounds, finite and ordered."""
    if not isinstance(row, dict):
        raise layout.RunFolderError(f"{path}: {where} must be an object")
    values = [number_at(path, row, key, f"{where}.") for key in ordered_bounds(levels)]
    if values != sorted(values):
        raise layout.RunFolderError(f"{path}: {where} bounds are not ordered: {values}")


def _check_path(path: Path, rows: Any, levels: list[float]) -> None:
    """1 to 12 rows of consecutive months, horizons 1.., ordered bounds, a model, a reason."""
    if not isinstance(rows, list) or not 1 <= len(rows) <= p.FORECAST_HORIZON:
        raise layout.RunFolderError(
            f"{path}: {m.FORECAST_PATH} must hold 1 to {p.FORECAST_HORIZON} rows"
        )
    expected = None
    for index, row in enumerate(rows, start=1):
        where = f"{m.FORECAST_PATH}[{index - 1}]"
        if not isinstance(row, dict) or not p.is_month_text(row.get(layout.MONTH)):
            raise layout.RunFolderError(f"{path}: {where} needs a month YYYY-MM")
        if expected is not None and row[layout.MONTH] != expected:
            raise layout.RunFolderError(
                f"{path}: {where} is {row[layout.MONTH]}, expected {expected}"
            )
        if row.get(p.HORIZON) != index or isinstance(row.get(p.HORIZON), bool):
            raise layout.RunFolderError(
                f"{path}: {where}.horizon is {excerpt(row.get(p.HORIZON))}, expected {index}"
            )
        if not isinstance(row.get(p.MODEL), str) or not isinstance(row.get(p.REASON), str):
            raise layout.RunFolderError(f"{path}: {where} needs a model and a reason (texts)")
        check_bounds(path, row, levels, where)
        expected = p.next_month(row[layout.MONTH])


def _check_calibration(path: Path, block: Any, levels: list[float]) -> None:
    """A ``YYYY-MM..YYYY-MM`` window, a method, and per horizon and level a coverage in
    [0, 1], a mean width >= 0 and a number of months >= 1."""
    if not isinstance(block, dict) or not isinstance(block.get("horizons"), dict):
        raise layout.RunFolderError(f"{path}: {m.CALIBRATION} must be an object with 'horizons'")
    window = block.get("window")
    if not isinstance(window, str) or not all(map(p.is_month_text, window.split(".."))):
        raise layout.RunFolderError(
            f"{path}: {m.CALIBRATION}.window is {excerpt(window)}, not YYYY-MM..YYYY-MM"
        )
    if not isinstance(block.get("method"), str):
        raise layout.RunFolderError(f"{path}: {m.CALIBRATION}.method must be a text")
    for horizon, by_level in block["horizons"].items():
        where = f"{m.CALIBRATION}.horizons.{horizon}"
        if not horizon.isdigit() or not isinstance(by_level, dict):
            raise layout.RunFolderError(
                f"{path}: {where}: expected a horizon in months and an object"
            )
        for label in map(p.level_label, levels):
            entry = by_level.get(label)
            if not isinstance(entry, dict):
                raise layout.RunFolderError(f"{path}: {where} lacks level {label!r}")
            coverage = number_at(path, entry, m.COVERAGE, f"{where}.{label}.")
            width = number_at(path, entry, m.MEAN_WIDTH, f"{where}.{label}.")
            months = entry.get(m.CALIBRATION_MONTHS)
            if not 0 <= coverage <= 1 or width < 0 or not isinstance(months, int) or months < 1:
                raise layout.RunFolderError(
                    f"{path}: {where}.{label}: coverage {coverage}, width {width}, months "
                    f"{excerpt(months)}: expected a coverage in [0, 1], a width >= 0, months >= 1"
                )


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """Write ``metrics.json``: its forecast, ``forecast_path`` and ``calibration`` (when
    present) checked first, NaN refused, then read back through ``read_metrics``."""
    levels = p.check_levels(path, metrics.get("interval_levels"))
    check_bounds(path, metrics.get("forecast"), levels, "forecast")
    if m.FORECAST_PATH in metrics:
        _check_path(path, metrics[m.FORECAST_PATH], levels)
    if m.CALIBRATION in metrics:
        _check_calibration(path, metrics[m.CALIBRATION], levels)
    write_text_atomic(path, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    m.read_metrics(path)


def write_predictions_json(path: Path, levels: list[float], rows: list[dict[str, Any]]) -> None:
    """Write the document, then read it back through ``read_predictions_json``."""
    document = {"unit": layout.UNIT, "interval_levels": list(levels), "rows": rows}
    write_text_atomic(path, json.dumps(document, allow_nan=False) + "\n")
    p.read_predictions_json(path)
