"""A minimal HTTP/1.1 keep-alive client for the open-loop load of ``make bench-saga``.

The generator shares the two cores with the stack it measures, so what it spends per request is
taken from the stack: httpx costs ~1 ms of CPU per request here (its closed loop saturates a core
near 300 requests/s), this client (asyncio protocol + httptools' C parser) a small fraction of
that. It does only what the benchmark needs: one host, small bodies, keep-alive connections
opened on demand up to a limit, a timeout per request, no redirects, no TLS.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass

import httptools

#: uvicorn closes a connection idle for 5 s: reusing one near that races its close.
_MAX_IDLE_S = 2.0


@dataclass(slots=True)
class Response:
    """What came back, and when the request was written (monotonic seconds)."""

    status: int
    body: bytes
    sent_at: float
    answered_at: float


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.waiter: asyncio.Future[tuple[int, bytes, bool]] | None = None
        self.body: list[bytes] = []
        self.last_used = time.monotonic()
        self.closed = False

    # -- asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(exc or ConnectionResetError("connection closed by the server"))

    # -- httptools callbacks
    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        status, keep = self.parser.get_status_code(), self.parser.should_keep_alive()
        body, self.body = b"".join(self.body), []
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result((status, body, keep))

    def _fail(self, exc: Exception) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(exc)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


class Http1Client:
    """Requests to one ``host:port``, over at most ``max_connections`` keep-alive connections."""

    def __init__(self, host: str, port: int, *, max_connections: int = 4096) -> None:
        self.host, self.port = host, port
        self._host_header = f"Host: {host}:{port}\r\n".encode()
        self._idle: deque[_Connection] = deque()
        self._slots = asyncio.Semaphore(max_connections)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: bytes = b"",
        body: bytes = b"",
        timeout_s: float = 10.0,
    ) -> Response:
        """One request; ``headers`` are preformatted ``Name: value\\r\\n`` lines.

        Raises TimeoutError, ConnectionError or OSError: the caller counts them by class.
        """
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._host_header + headers
        if body or method in ("POST", "PUT", "PATCH"):
            head += f"Content-Length: {len(body)}\r\n".encode()
        payload = head + b"\r\n" + body
        async with self._slots:
            conn = await self._acquire()
            loop = asyncio.get_running_loop()
            conn.waiter = loop.create_future()
            sent_at = time.monotonic()
            assert conn.transport is not None
            conn.transport.write(payload)
            try:
                async with asyncio.timeout(timeout_s):
                    status, data, keep = await conn.waiter
            except BaseException:
                conn.close()
                raise
            conn.waiter = None
            if keep and not conn.closed:
                conn.last_used = time.monotonic()
                self._idle.append(conn)
            else:
                conn.close()
            return Response(status, data, sent_at, time.monotonic())

    async def _acquire(self) -> _Connection:
        now = time.monotonic()
        while self._idle:
            conn = self._idle.pop()
            if not conn.closed and now - conn.last_used < _MAX_IDLE_S:
                return conn
            conn.close()
        loop = asyncio.get_running_loop()
        _, conn = await loop.create_connection(_Connection, self.host, self.port)
        return conn

    async def aclose(self) -> None:
        while self._idle:
            self._idle.pop().close()
