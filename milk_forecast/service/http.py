"""The HTTP protocol our entry points give uvicorn (``--http milk_forecast.service.http:Protocol``).

uvicorn's httptools protocol (about 3x the throughput of its h11 one on this API), plus
what neither gives out of the box:

- a bound on the request head: a head (request line and headers) larger than
  ``MAX_HEAD_BYTES`` is answered 400 and the connection closed at once. httptools itself
  has no bound (a 100 MB header was buffered whole, stalling every other client for 5 s);
  h11 has one (``--h11-max-incomplete-event-size``) but costs two thirds of the throughput;
- a deadline for every request head: a connection must deliver a complete head within
  ``--timeout-keep-alive`` seconds of opening, and of each answer. uvicorn's keep-alive
  timer starts only after a first answer and stops at the first byte received, so a
  connection that sent nothing, or a byte now and then, was never closed;
- a request the parser rejects is answered with our JSON error shape instead of
  uvicorn's plain text.

uvicorn is pinned in requirements.txt; tests/service/test_http.py checks all three over
a real socket, so an upgrade that changes the base class fails loudly.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = 16 * 1024  # h11's default bound; nginx allows 4 x 8 kB by default
BAD_REQUEST_BODY = (
    b'{"error":{"status":400,"code":"bad_request","message":"malformed HTTP request '
    b'(request line, target, headers, or a head larger than 16384 bytes)"}}'
)


class Protocol(HttpToolsProtocol):
    """httptools with a bounded, timed request head and JSON answers to malformed requests."""

    # Bytes of the request head received so far; None while a request is being answered.
    head_bytes: int | None = 0
    head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head()

    def data_received(self, data: bytes) -> None:
        if self.head_bytes is not None:
            self.head_bytes += len(data)
            if self.head_bytes > MAX_HEAD_BYTES:
                self.send_400_response("request head too large")
                return
        super().data_received(data)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self.head_bytes is None:  # a pipelined request: count its head from the next read
            self.head_bytes = 0

    def on_headers_complete(self) -> None:
        self.head_bytes = None
        self._cancel_head_deadline()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # uvicorn armed its keep-alive timer: no pipelined request is waiting.
        if self.timeout_keep_alive_task is not None and not self.transport.is_closing():
            self._await_head()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_deadline()
        super().connection_lost(exc)

    def _await_head(self) -> None:
        self.head_bytes = 0
        self._cancel_head_deadline()
        self.head_deadline = self.loop.call_later(self.timeout_keep_alive, self._head_too_late)

    def _cancel_head_deadline(self) -> None:
        if self.head_deadline is not None:
            self.head_deadline.cancel()
            self.head_deadline = None

    def _head_too_late(self) -> None:
        """Close a connection still waiting for a whole request head (idle or trickling)."""
        self.head_deadline = None
        if self.head_bytes is not None and not self.transport.is_closing():
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's answer to a request the parser rejects, as our JSON error shape."""
        content = [b"HTTP/1.1 400 Bad Request\r\n"]
        for name, value in self.server_state.default_headers:
            content.extend([name, b": ", value, b"\r\n"])
        content.extend(
            [
                b"content-type: application/json\r\n",
                b"content-length: " + str(len(BAD_REQUEST_BODY)).encode("ascii") + b"\r\n",
                b"connection: close\r\n\r\n",
                BAD_REQUEST_BODY,
            ]
        )
        self.head_bytes = None
        self._cancel_head_deadline()
        self.transport.write(b"".join(content))
        self.transport.close()
