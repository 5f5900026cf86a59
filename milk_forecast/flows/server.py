"""A temporary Prefect server for one ``run`` that ends with the process that started it.

Prefect's own temporary server (no PREFECT_API_URL) runs on, an orphan, when the process
that started it is killed (``kill -9``). This one is a child reading its standard input, a
pipe only the parent holds the other end of: however the parent ends, the server reads the
end of the pipe and stops. It runs in a session of its own, so a Ctrl-C in the terminal
stops the flow run, which then reports its state to a server still up.

    python milk_forecast/flows/server.py FD   # the child: serves on the listening socket FD
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

# A first start creates Prefect's database: 16 s on a busy development machine, 6 s after.
STARTUP_TIMEOUT_S = 120.0
STOP_GRACE_S = 10.0  # a server that has not stopped this long after its parent ended is killed


class ServerError(RuntimeError):
    """The temporary server did not start."""


@contextmanager
def temporary_server() -> Iterator[str]:
    """A Prefect server for the block, as the Prefect API of this process: its API URL."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with socket.create_server(("127.0.0.1", 0)) as listening:  # a free port, taken at once
        url = f"http://127.0.0.1:{listening.getsockname()[1]}/api"
        server = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), str(listening.fileno())],
            stdin=subprocess.PIPE,
            pass_fds=(listening.fileno(),),
            start_new_session=True,
        )
    try:
        wait_until_up(url, server)
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        assert server.stdin is not None
        server.stdin.close()  # the server stops itself
        try:
            server.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def wait_until_up(url: str, server: subprocess.Popen[bytes]) -> None:
    """Return once the server answers its health check (the request waits in the socket's
    queue while it starts); ``ServerError`` if it ends or does not answer in time."""
    try:
        urllib.request.urlopen(f"{url}/health", timeout=STARTUP_TIMEOUT_S).close()
    except OSError as exc:  # HTTPError, URLError, a timeout
        try:
            why = f"it exited with code {server.wait(1)}"
        except subprocess.TimeoutExpired:
            why = str(exc)
        raise ServerError(f"the temporary Prefect server did not start: {why}") from None


def stop_when_parent_ends() -> None:
    """In the server: at the end of standard input (the parent is gone, or done), stop as on
    SIGTERM; exit ``STOP_GRACE_S`` later if still there."""
    sys.stdin.buffer.read()
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(STOP_GRACE_S)
    os._exit(1)


def serve(fd: int) -> None:
    """Serve Prefect's API (no UI) on the listening socket ``fd`` until the parent ends."""
    import uvicorn
    from prefect.server.api.server import create_app

    threading.Thread(target=stop_when_parent_ends, daemon=True).start()
    app = create_app(ephemeral=True, final=True)
    uvicorn.run(app, fd=fd, log_level="error", lifespan="on")


if __name__ == "__main__":
    serve(int(sys.argv[1]))
