"""The served HTTP surface over a real socket: uvicorn started with compose.yaml's api flags."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest
from run_factory import make_run
from test_deploy import service_command

from milk_forecast.service.openapi import OPENAPI

ROOT = Path(__file__).resolve().parents[2]
KEEP_ALIVE = 1  # seconds, instead of compose's 5, to keep the test short


def option(command: list[str], name: str, value: str) -> list[str]:
    index = command.index(name)
    return [*command[: index + 1], value, *command[index + 2 :]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    runs_dir = tmp_path_factory.mktemp("http") / "runs"
    make_run(runs_dir)
    port = free_port()
    command = option(option(service_command("api"), "--host", "127.0.0.1"), "--port", str(port))
    command = option(command, "--timeout-keep-alive", str(KEEP_ALIVE))
    server = subprocess.Popen(
        [sys.executable, "-m", *command],
        cwd=ROOT,
        env={**os.environ, "RUNS_DIR": str(runs_dir)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None and time.monotonic() < deadline, "uvicorn did not start"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        yield port
    finally:
        server.terminate()
        server.wait(20)


def read_answer(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The status, headers and body of the next answer on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed without an answer after {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
    while len(body) < int(headers.get("content-length", 0)):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def exchange(port: int, raw: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` on a fresh connection; the status, headers and body of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):  # the server may close while a huge request is sent
            sock.sendall(raw)
        return read_answer(sock)


def assert_error_shape(headers: dict[str, str], body: bytes, status: int) -> None:
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    schema = {"$ref": "#/components/schemas/Error", "components": OPENAPI["components"]}
    jsonschema.Draft202012Validator(schema).validate(payload)
    assert payload["error"]["status"] == status


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    sock.settimeout(limit)
    started = time.monotonic()
    assert sock.recv(1024) == b""
    return time.monotonic() - started


@pytest.mark.parametrize(
    "raw",
    [
        b"GARBAGE\r\n\r\n",
        b"FOO /health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"G(T /health HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /a b HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /\xff HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nX Y: 1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    ],
)
def test_a_request_the_parser_rejects_gets_our_json_error(port: int, raw: bytes) -> None:
    status, headers, body = exchange(port, raw)
    assert status == 400
    assert_error_shape(headers, body, 400)
    assert json.loads(body)["error"]["code"] == "bad_request"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"PATCH /api/predict HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        (b"GET /api/predict/%FF/1 HTTP/1.1\r\nHost: x\r\n\r\n", 422),
        (b"GET /api/predict?year=%FF&month=1 HTTP/1.1\r\nHost: x\r\n\r\n", 422),
        (b"GET /api/runs/ HTTP/1.1\r\nHost: evil.example\r\n\r\n", 404),
        (b"GET http://evil.example/nothing HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ],
)
def test_a_malformed_request_reaching_the_app_gets_our_json_error(
    port: int, raw: bytes, status: int
) -> None:
    answer, headers, body = exchange(port, raw)
    assert answer == status and "location" not in headers
    assert_error_shape(headers, body, status)


def test_an_oversized_header_is_refused_at_once(port: int) -> None:
    started = time.monotonic()
    status, headers, body = exchange(
        port, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (20 * 1024 * 1024)
    )
    assert time.monotonic() - started < 2
    assert status == 400
    assert_error_shape(headers, body, 400)


@pytest.mark.parametrize("sent", [b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"])
def test_a_connection_without_a_whole_request_head_is_closed(port: int, sent: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(sent)
        assert KEEP_ALIVE * 0.5 < seconds_until_closed(sock, KEEP_ALIVE * 10) < KEEP_ALIVE * 5


def test_a_trickled_head_after_an_answer_is_closed_too(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_answer(sock)[0] == 200
        for piece in (b"GET /he", b"alth HTTP/1.1\r\n", b"X-A: 1\r\n"):  # never a whole head
            sock.sendall(piece)
            time.sleep(KEEP_ALIVE * 0.4)
        assert seconds_until_closed(sock, KEEP_ALIVE * 10) < KEEP_ALIVE * 5


def test_keep_alive_serves_several_requests_on_one_connection(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for _ in range(3):
            sock.sendall(b"GET /api/predict/2020/5 HTTP/1.1\r\nHost: x\r\n\r\n")
            status, _, body = read_answer(sock)
            assert status == 200 and json.loads(body)["horizon"] == 1
            time.sleep(KEEP_ALIVE * 0.5)


@pytest.mark.parametrize(("header_kb", "status"), [(12, 200), (20, 400)])
def test_the_head_bound_holds_when_the_head_arrives_in_pieces(
    port: int, header_kb: int, status: int
) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        try:
            for number in range(header_kb):
                sock.sendall(b"X-%04d: " % number + b"a" * 1014 + b"\r\n")
                time.sleep(0.005)
            sock.sendall(b"\r\n")
        except OSError:  # refused while still sending
            pass
        assert read_answer(sock)[0] == status
