"""A real webhook receiver for the tests: an HTTP server on a free loopback port that verifies
every request's Standard Webhooks signature (with the tests' own verifier) and answers as told.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.inbox.testing import wait_until


@dataclass(frozen=True)
class Call:
    """One request the receiver got."""

    path: str
    headers: dict[str, str]
    body: str
    received_at: float  # time.monotonic()
    verified: bool

    @property
    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body)


@dataclass
class Behaviour:
    """How a path answers: ``statuses`` in turn (the last one repeats), after ``delay_s``."""

    statuses: list[int] = field(default_factory=lambda: [204])
    delay_s: float = 0.0
    secret: str | None = None


class Receiver:
    """Answers POSTs on any path; ``calls`` lists them in arrival order."""

    def __init__(self, verifier: Any) -> None:
        self._verifier = verifier
        self.behaviours: dict[str, Behaviour] = {}
        self.calls: list[Call] = []
        self.port = 0
        self.app = Starlette(routes=[Route("/{path:path}", self._handle, methods=["POST"])])

    def url(self, path: str) -> str:
        """The URL of ``path`` on this receiver."""
        return f"http://127.0.0.1:{self.port}{path}"

    def on(
        self, path: str, *statuses: int, delay_s: float = 0.0, secret: str | None = None
    ) -> Behaviour:
        """Set how ``path`` answers (204 when no status is given)."""
        behaviour = Behaviour(list(statuses) or [204], delay_s, secret)
        self.behaviours[path] = behaviour
        return behaviour

    def calls_to(self, path: str) -> list[Call]:
        """The requests ``path`` got."""
        return [call for call in self.calls if call.path == path]

    async def _handle(self, request: Request) -> Response:
        path = request.url.path
        body = (await request.body()).decode()
        behaviour = self.behaviours.get(path, Behaviour(statuses=[404]))
        verified = False
        if behaviour.secret is not None:
            try:
                self._verifier.verify(
                    behaviour.secret, dict(request.headers), body, now=int(time.time())
                )
                verified = True
            except self._verifier.Invalid:
                verified = False
        self.calls.append(Call(path, dict(request.headers), body, time.monotonic(), verified))
        if behaviour.delay_s:
            await asyncio.sleep(behaviour.delay_s)
        status = behaviour.statuses.pop(0) if len(behaviour.statuses) > 1 else behaviour.statuses[0]
        if behaviour.secret is not None and not verified:
            status = 401
        return Response(status_code=status)


@contextlib.asynccontextmanager
async def serve(receiver: Receiver) -> AsyncIterator[Receiver]:
    """Run ``receiver`` on a free port of 127.0.0.1 until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    receiver.port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            receiver.app,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=5,
            timeout_graceful_shutdown=1,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:

        async def started() -> bool:
            return bool(server.started)

        await wait_until(started, timeout_s=10, interval_s=0.01, message="receiver started")
        yield receiver
    finally:
        server.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        sock.close()
