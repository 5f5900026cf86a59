"""What the served HTTP surface does with hostile or broken clients, on loopback.

Starts the API the way our entry points do (the ``api`` command of compose.yaml, on a
free loopback port) or, with ``--bare``, as plain ``uvicorn app:app`` (the defaults),
and reports:

- a 100 MB header: how long the sender is kept busy, what it gets back, and the worst
  latency of /health requests made by another client meanwhile;
- idle connections: whether a connection that sends nothing, and one that sends half a
  request head, is closed, and after how long;
- idle connections up to --limit-concurrency: whether another client is still answered;
- malformed requests (bad request lines, percent-encoding, bytes that are not UTF-8,
  odd methods and targets, broken headers): each one's status and content type, and how
  many answers are not the application's JSON error shape (uvicorn answers those itself);
- a trailing-slash URL with a foreign ``Host``: whether a redirect echoes that host.

What it shows is what a reverse proxy in front must do (README "The served HTTP surface").

    .venv/bin/python benchmarks/http_surface.py [--bare] [--idle-wait 20]

Without --runs-dir a fake run is built in a temporary folder (tests/run_factory.py).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from api import fake_runs_dir, free_port, server_argv, stop, wait_ready  # noqa: E402

HEADER_BYTES = 100 * 1024 * 1024

# (label, raw bytes sent): every kind of broken request the probe tries.
MALFORMED: list[tuple[str, bytes]] = [
    ("garbage request line", b"GARBAGE\r\n\r\n"),
    ("no HTTP version", b"GET /health\r\nHost: x\r\n\r\n"),
    ("unknown HTTP version", b"GET /health HTTP/9.9\r\nHost: x\r\n\r\n"),
    ("odd method", b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("lower-case method", b"get /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("method with a bad character", b"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("space in the target", b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bad percent-encoding in the path", b"GET /api/predict/%ZZ/1 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("percent-encoded non-UTF-8 path", b"GET /api/predict/%FF/1 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw non-ASCII byte in the path", b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("raw non-ASCII byte in the query", b"GET /api/predict?year=\xff HTTP/1.1\r\nHost: x\r\n\r\n"),
    (
        "percent-encoded non-UTF-8 query",
        b"GET /api/predict?year=%FF&month=1 HTTP/1.1\r\nHost: x\r\n\r\n",
    ),
    ("NUL in the path", b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("HTTP/1.1 without Host", b"GET /health HTTP/1.1\r\n\r\n"),
    ("two Host headers", b"GET /health HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
    ("header without a colon", b"GET /health HTTP/1.1\r\nHost: x\r\nNOCOLON\r\n\r\n"),
    ("space in a header name", b"GET /health HTTP/1.1\r\nHost: x\r\nX Y: 1\r\n\r\n"),
    ("folded header", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n"),
    (
        "non-numeric Content-Length",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ),
    (
        "Content-Length and Transfer-Encoding",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    ),
    (
        "unknown Transfer-Encoding",
        b"GET /health HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    ),
    ("absolute-form target", b"GET http://evil.example/health HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("asterisk target", b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("CONNECT", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("bare LF line endings", b"GET /health HTTP/1.1\nHost: x\n\n"),
    ("100 kB request line", b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"),
    ("control byte in a header value", b"GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n"),
    (
        "websocket upgrade",
        b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    ),
    ("dot segments", b"GET /api/../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n"),
]


def start(bare: bool, runs_dir: Path, port: int) -> subprocess.Popen:
    """Our entry point's server (benchmarks/api.py), or plain ``uvicorn app:app`` when ``bare``."""
    argv = server_argv("app:app", port)
    if bare:
        argv = [*argv[:4], "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    print("server:", " ".join(argv[2:]))
    env = {**os.environ, "RUNS_DIR": str(runs_dir)}
    return subprocess.Popen(argv, cwd=ROOT, env=env)


def read_answer(sock: socket.socket, timeout: float = 5.0) -> tuple[str, str, bytes]:
    """(status line, content type, body head) of the first answer, or what happened instead."""
    sock.settimeout(timeout)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except TimeoutError:
        return ("no answer (timeout)", "", b"")
    except OSError as exc:
        return (f"connection error ({type(exc).__name__})", "", b"")
    if not data:
        return ("closed without an answer", "", b"")
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    length = int(headers.get("content-length", "0") or 0)
    try:
        while len(body) < min(length, 120):
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    except OSError:
        pass
    return (lines[0], headers.get("content-type", ""), body[:120])


def probe_malformed(port: int) -> None:
    """Each malformed request: uvicorn's parser answers before the application does."""
    not_json = 0
    print(f"\nmalformed requests ({len(MALFORMED)} kinds):")
    for label, raw in MALFORMED:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            with contextlib.suppress(OSError):
                sock.sendall(raw)
            status, content_type, body = read_answer(sock)
        ours = content_type.startswith("application/json") and body.startswith(b'{"')
        not_json += not ours
        mark = "json " if ours else "OTHER"
        print(f"  {mark} {label:<38} {status[:40]:<40} {content_type[:30]}")
    print(f"answers that are not the application's JSON: {not_json} of {len(MALFORMED)}")


def health_latencies(port: int, done: threading.Event, out: list[float]) -> None:
    url = f"http://127.0.0.1:{port}/health"
    while not done.is_set():
        started = time.perf_counter()
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=30).read()
        out.append(time.perf_counter() - started)
        time.sleep(0.02)


def probe_big_header(port: int) -> None:
    latencies: list[float] = []
    done = threading.Event()
    watcher = threading.Thread(target=health_latencies, args=(port, done, latencies))
    watcher.start()
    started = time.perf_counter()
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ")
        chunk = b"a" * (1024 * 1024)
        try:
            while sent < HEADER_BYTES:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except OSError as exc:
            print(f"  the server stopped reading after {sent / 1e6:.1f} MB ({type(exc).__name__})")
        status, content_type, _ = read_answer(sock, timeout=30)
    busy = time.perf_counter() - started
    done.set()
    watcher.join()
    print(f"\n100 MB header: sender busy {busy:.2f} s, answered {status!r} {content_type!r}")
    print(f"  /health meanwhile: {len(latencies)} requests, worst {max(latencies) * 1000:.0f} ms")


def probe_idle(port: int, wait: float) -> None:
    print(f"\nidle connections (waiting up to {wait:.0f} s):")
    for label, raw in [
        ("sends nothing", b""),
        ("half a request head", b"GET /health HTTP/1.1\r\n"),
    ]:
        with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
            if raw:
                sock.sendall(raw)
            started = time.perf_counter()
            try:
                closed = sock.recv(1024) == b""
                took = time.perf_counter() - started
                print(f"  {label:<22} {'closed' if closed else 'answered'} after {took:.1f} s")
            except TimeoutError:
                print(f"  {label:<22} still open after {wait:.0f} s")
            except OSError as exc:
                print(
                    f"  {label:<22} {type(exc).__name__} after {time.perf_counter() - started:.1f} s"
                )


def probe_idle_flood(port: int, count: int) -> None:
    """``count`` connections that send nothing, then one /health request from another client."""
    sockets = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    try:
        time.sleep(0.5)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            status, content_type, body = read_answer(sock)
    finally:
        for idle in sockets:
            idle.close()
    print(f"\n{count} idle connections, then /health: {status!r} {content_type!r} {body[:40]!r}")


def probe_redirect(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /api/runs/ HTTP/1.1\r\nHost: evil.example\r\n\r\n")
        sock.settimeout(5)
        head = sock.recv(65536).decode("latin-1").split("\r\n\r\n")[0]
    location = [line for line in head.split("\r\n") if line.lower().startswith("location:")]
    print(f"\ntrailing slash with Host: evil.example -> {head.splitlines()[0]!r} {location}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bare", action="store_true", help="plain `uvicorn app:app`")
    parser.add_argument("--runs-dir", type=Path)
    parser.add_argument("--idle-wait", type=float, default=20.0)
    parser.add_argument("--idle-connections", type=int, default=200, help="the entry's limit")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="milk-http-") as scratch:
        runs_dir = args.runs_dir.resolve() if args.runs_dir else fake_runs_dir(Path(scratch))
        port = free_port()
        server = start(args.bare, runs_dir, port)
        try:
            wait_ready(f"http://127.0.0.1:{port}", server)
            probe_malformed(port)
            probe_redirect(port)
            probe_big_header(port)
            probe_idle(port, args.idle_wait)
            probe_idle_flood(port, args.idle_connections)
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
