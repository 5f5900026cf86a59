"""The commands' standard output, which may lose its reader (``run_pipeline.py --list | head -1``)."""

from __future__ import annotations

import io
import os
from typing import IO


class PipeSafe(io.TextIOBase):
    """A text stream that outlives its reader: once the reader is gone, the rest of the
    output is dropped and the command carries on (no BrokenPipeError, no failed run).
    Closing it (at the end of its ``with`` block) flushes it and leaves ``stream`` open."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self.drop()
            return len(text)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except BrokenPipeError:
            self.drop()

    def drop(self) -> None:
        """Point the stream's file at /dev/null: what it still holds, or gets, goes nowhere."""
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, self.stream.fileno())
        os.close(devnull)
