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
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from milk_forecast.run_folder.layout import (
    LATEST,
    RUN_ID_FORMAT,
    RUN_JSON,
    UNIT,
    RunFolderError,
    run_dir_for,
)
from milk_forecast.run_folder.metrics import read_metrics
from milk_forecast.run_folder.predictions import read_predictions_json
from milk_forecast.run_folder.publications import open_log


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
    stamp = now.astimezone(UTC).strftime(RUN_ID_FORMAT)
    for suffix in [""] + [f"-{n:02d}" for n in range(1, 100)]:
        try:
            (runs_dir / (stamp + suffix)).mkdir()
        except FileExistsError:
            continue
        return stamp + suffix, runs_dir / (stamp + suffix)
    raise RunFolderError(f"more than 100 runs started in {stamp} under {runs_dir}")


def write_run_record(run_dir: Path, record: dict[str, Any]) -> None:
    write_json_atomic(Path(run_dir) / RUN_JSON, record)


def staged_latest(runs_dir: Path, run_id: str) -> AbstractContextManager[Callable[[], None]]:
    """``LATEST`` naming ``run_id``, written beside it now; ``commit()`` renames it into place."""
    run_dir_for(runs_dir, run_id)  # validates the id
    return staged_text(Path(runs_dir) / LATEST, run_id + "\n")


def publish_latest(runs_dir: Path, run_id: str) -> None:
    """Point ``LATEST`` at ``run_id`` atomically: readers see the old id or the new one."""
    with staged_latest(runs_dir, run_id) as commit:
        commit()


def append_publication(runs_dir: Path, entry: dict[str, str]) -> None:
    """Append one line (one ``write`` in append mode, then fsync); ``RunFolderError`` if the log
    is not a regular file of the runs folder, ``OSError`` if the disk refuses."""
    fd = open_log(runs_dir, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, (json.dumps(entry) + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def write_metrics(path: Path, metrics: dict[str, Any]) -> None:
    """Write ``metrics.json`` (NaN refused), then read it back through ``read_metrics``."""
    write_text_atomic(path, json.dumps(metrics, indent=2, allow_nan=False) + "\n")
    read_metrics(path)


def write_predictions_json(path: Path, levels: list[float], rows: list[dict[str, Any]]) -> None:
    """Write the document, then read it back through ``read_predictions_json``."""
    document = {"unit": UNIT, "interval_levels": list(levels), "rows": rows}
    write_text_atomic(path, json.dumps(document, allow_nan=False) + "\n")
    read_predictions_json(path)
