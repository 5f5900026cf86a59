"""Writing files so that a reader never sees half of one.

``write_text_atomic`` writes beside the target and renames into place: a reader sees
the old content or the new one, and a write that fails (a full disk, a signal) leaves
the old file as it was and no temporary file behind. ``staged_text`` splits that
write in two: the content is written (and the disk space taken) first, the rename
comes when the caller commits. An ``OSError`` from either names the target file.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def describe_os_error(exc: OSError) -> str:
    """``No space left on device: /runs/x/run.json``: the OS message, then the file if known."""
    message = exc.strerror or str(exc) or type(exc).__name__
    return f"{message}: {exc.filename}" if isinstance(exc.filename, str | Path) else message


def _naming(path: Path, exc: OSError) -> OSError:
    """``exc`` again, naming ``path`` (the target) rather than a temporary file."""
    if exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, str(path))


@contextmanager
def staged_text(path: Path, text: str) -> Iterator[Callable[[], None]]:
    """Write ``text`` beside ``path`` and fsync it; the yielded ``commit()`` renames it over ``path``.

    Leaving the block without committing removes the temporary file; ``path`` is then
    untouched. A failure to write or rename raises ``OSError`` naming ``path``.
    """
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
    """Write ``text`` to a temporary file beside ``path``, fsync it, rename it over ``path``."""
    with staged_text(path, text) as commit:
        commit()


def write_json_atomic(path: Path, payload: Any) -> None:
    """``payload`` as indented JSON, written atomically."""
    write_text_atomic(path, json.dumps(payload, indent=2, default=str) + "\n")
