"""The service under clients that misbehave, on a real server started as make serve starts it."""

from __future__ import annotations

import socket
import time
import urllib.request
from pathlib import Path

import pytest
from run_factory import add_page_files, make_run
from served import rss_bytes, serving

from milk_forecast.run_folder.layout import REPORT_FILE

pytestmark = pytest.mark.slow
RUN = "20261127T120301Z"
REPORT_BYTES = 8 * 1024 * 1024
READERS = 20


def stalled_reader(base: str, path: str) -> socket.socket:
    """A client that asks for ``path``, reads the start of the answer, then stops reading."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    assert sock.recv(15).startswith(b"HTTP/1.1 200")
    return sock


def closed_by_the_server(log: Path, count: int) -> bool:
    """Whether the log says ``count`` stalled clients were closed, waiting up to 15 s."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if log.read_text().count("the client read nothing") >= count:
            return True
        time.sleep(0.1)  # polling for an outcome, not waiting a fixed time
    return False


def test_clients_that_never_read_a_report_pin_no_memory_and_are_closed(tmp_path: Path) -> None:
    run_dir = add_page_files(make_run(tmp_path / "runs", RUN))
    (run_dir / REPORT_FILE).write_bytes(b"<html>" + b"x" * REPORT_BYTES + b"</html>")
    log = tmp_path / "uvicorn.log"
    with serving(tmp_path / "runs", log, SEND_TIMEOUT="1") as (base, server):
        idle = rss_bytes(server.pid)
        readers = [stalled_reader(base, f"/runs/{RUN}/report.html") for _ in range(READERS)]
        grown = rss_bytes(server.pid) - idle
        # Each stalled client holds about one chunk, not the 8 MB report (160 MB in all).
        assert grown < READERS * REPORT_BYTES / 8, f"RSS grew by {grown / 2**20:.0f} MB"
        with urllib.request.urlopen(base + "/api/predict/2020/4", timeout=5) as answer:
            assert answer.status == 200  # others are still answered
        assert closed_by_the_server(log, READERS), log.read_text()[-2000:]
        for reader in readers:
            reader.close()
