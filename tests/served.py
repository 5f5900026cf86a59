"""The service started as its entry points start it (compose.yaml's api command), on a
loopback port, for the tests that need a real server: a browser, slow clients."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_argv(port: int) -> list[str]:
    """compose.yaml's api command (the entry points' flags) on a loopback port."""
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    argv = list(compose["services"]["api"]["command"])
    argv[argv.index("--host") + 1], argv[argv.index("--port") + 1] = "127.0.0.1", str(port)
    return [sys.executable, "-m", *argv]


@contextmanager
def serving(runs_dir: Path, log: Path, **env: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """``(base URL, server process)`` of the service on ``runs_dir``, once it answers /health."""
    port = free_port()
    with log.open("w") as output:
        server = subprocess.Popen(
            serve_argv(port),
            cwd=ROOT,
            env={**os.environ, "RUNS_DIR": str(runs_dir), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, log.read_text()
            try:
                with urllib.request.urlopen(base + "/health", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, f"{base} never answered:\n{log.read_text()}"
                time.sleep(0.05)  # polling a starting process, not waiting for an outcome
        yield base, server
    finally:
        server.terminate()
        try:
            server.wait(10)
        except subprocess.TimeoutExpired:  # connections it would wait for: no test's business
            server.kill()
            server.wait()


def rss_bytes(pid: int) -> int:
    """The resident memory of process ``pid``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for pid {pid}")
