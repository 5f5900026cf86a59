"""The commands' standard output when its reader goes away (``--list | head -1``)."""

from __future__ import annotations

import os
from pathlib import Path

from milk_forecast.runner.output import PipeSafe


def test_output_whose_reader_is_gone_is_dropped_without_an_error() -> None:
    read_end, write_end = os.pipe()
    stream = os.fdopen(write_end, "w")
    os.close(read_end)  # the reader went away
    output = PipeSafe(stream)
    assert output.write("x" * 200_000) == 200_000  # more than the pipe and the buffer hold
    output.flush()
    print("the rest", file=output, flush=True)
    assert Path(os.readlink(f"/proc/self/fd/{write_end}")) == Path(os.devnull)
    stream.close()


def test_output_with_a_reader_passes_through(tmp_path: Path) -> None:
    with (tmp_path / "out.txt").open("w") as stream:
        output = PipeSafe(stream)
        print("one line", file=output)
        output.flush()
    assert (tmp_path / "out.txt").read_text() == "one line\n"


def test_closing_it_flushes_the_stream_and_leaves_it_open(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    with path.open("w") as stream:
        with PipeSafe(stream) as output:
            print("one line", file=output)
        assert path.read_text() == "one line\n"  # flushed, not only buffered
        assert not stream.closed
