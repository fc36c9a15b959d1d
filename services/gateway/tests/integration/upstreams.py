"""Real HTTP services behind the gateway under test: small ASGI apps served by uvicorn on free
ports of 127.0.0.1, recording every request and answering from a per-test script; plus an
issuer of access tokens whose JWKS the fake identity serves."""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.adapters.transport import Answer

ISSUER = "https://identity.ordo.local"
AUDIENCE = "ordo-api"


@dataclass(frozen=True)
class Seen:
    """One request as the service received it (header names lower-case)."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class Reply:
    """A scripted answer: status, JSON body (None: empty), headers, and a delay before it."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str | None = None


Script = Reply | Callable[[Seen], Awaitable[Reply]]


class Issuer:
    """Signs access tokens the way identity does (EdDSA, kid, typ at+jwt)."""

    def __init__(self) -> None:
        self._key = Ed25519PrivateKey.generate()
        self.kid = uuid.uuid4().hex

    def jwks(self) -> dict[str, Any]:
        raw = self._key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        key = {"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.kid, "alg": "EdDSA"}
        return {"keys": [{**key, "use": "sig"}]}

    def token(
        self, *, user_id: uuid.UUID | None = None, roles: tuple[str, ...] = ("owner",)
    ) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": str(user_id or uuid.uuid4()),
            "org_id": str(uuid.uuid4()),
            "roles": list(roles),
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "jti": uuid.uuid4().hex,
        }
        headers = {"kid": self.kid, "typ": "at+jwt"}
        return jwt.encode(claims, self._key, algorithm="EdDSA", headers=headers)


class FakeService:
    """An ASGI service: records requests; answers from the script (the last entry repeats), or
    echoes what it received."""

    def __init__(self, name: str, issuer: Issuer | None = None) -> None:
        self.name = name
        self.issuer = issuer
        self.url = ""
        self.seen: list[Seen] = []
        self._script: list[Script] = []
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def reply(self, *script: Script) -> None:
        self._script = list(script)

    def reset(self) -> None:
        self.seen.clear()
        self._script = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        if self.issuer is not None and scope["path"] == "/.well-known/jwks.json":
            await _send(send, Reply(200, self.issuer.jwks()))
            return
        query = scope["query_string"].decode()
        seen = Seen(
            method=scope["method"],
            path=scope["path"],
            query=parse_qsl(query, keep_blank_values=True),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
        )
        self.seen.append(seen)
        script = self._script[min(len(self.seen), len(self._script)) - 1] if self._script else None
        if script is None:
            reply = Reply(200, {"service": self.name, "method": seen.method, "path": seen.path})
        elif isinstance(script, Reply):
            reply = script
        else:
            reply = await script(seen)
        if reply.delay_s:
            await asyncio.sleep(reply.delay_s)
        await _send(send, reply)

    async def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        config = uvicorn.Config(self, lifespan="off", log_level="warning", access_log=False)
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))
        async with asyncio.timeout(10):
            while not self._server.started:  # noqa: ASYNC110 - uvicorn offers only a flag
                await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


async def _send(send: Any, reply: Reply) -> None:
    content = b"" if reply.body is None else json.dumps(reply.body).encode()
    headers = [(k.lower().encode(), v.encode()) for k, v in reply.headers.items()]
    if content:
        media = reply.content_type or (
            "application/problem+json" if reply.status >= 400 else "application/json"
        )
        headers.append((b"content-type", media.encode()))
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": content})


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class AsgiTransport:
    """A gateway transport calling an ASGI app in-process (a service hosted by the test)."""

    def __init__(self, app: Any) -> None:
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://upstream"
        )

    async def exchange(
        self, method: str, target: str, headers: Any, content: bytes | None
    ) -> Answer:
        response = await self._client.request(method, target, headers=headers, content=content)
        return Answer(response.status_code, dict(response.headers.items()), response.content)

    async def aclose(self) -> None:
        await self._client.aclose()
