"""The identity upstream: forwards calls with a timeout, behind a circuit breaker.

Only these request headers go upstream: ``Authorization``, ``Content-Type``, the request id and
the W3C trace context. Only these response headers come back: ``Content-Type``, ``Location``
(rewritten under /v1) and ``Retry-After``. An unreachable identity or a 5xx is a 503 problem
(``dependency.unavailable``) and counts against the breaker; 4xx answers are passed through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from shared.errors import DependencyUnavailableError
from shared.observability import inject_headers
from shared.resilience import AsyncCircuitBreaker, with_timeout

__all__ = ["IdentityClient", "Upstream"]

_FORWARDED_REQUEST = ("authorization", "content-type", "x-request-id")


@dataclass(frozen=True, slots=True)
class Upstream:
    """identity's answer, reduced to what the edge may pass on."""

    status: int
    content: bytes
    media_type: str | None
    headers: Mapping[str, str]

    def json(self) -> Any:
        """The body as JSON."""
        import json  # noqa: PLC0415 - rarely needed

        return json.loads(self.content)


class IdentityClient:
    """Calls identity's internal API.

    Args:
        client: an ``httpx.AsyncClient`` whose base URL is identity's.
        timeout_s: the budget of one call.
        breaker: opens after repeated failures so a dead identity fails fast.
    """

    def __init__(
        self, client: httpx.AsyncClient, *, timeout_s: float, breaker: AsyncCircuitBreaker
    ) -> None:
        self._client = client
        self._timeout_s = timeout_s
        self._breaker = breaker

    async def call(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        json: Any = None,
        content: bytes | None = None,
    ) -> Upstream:
        """Forward one request; return identity's answer (4xx included)."""
        forwarded = {k: v for k, v in headers.items() if k.lower() in _FORWARDED_REQUEST}
        inject_headers(forwarded)
        return await self._breaker.call(self._send, method, path, forwarded, json, content)

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        json: Any,
        content: bytes | None,
    ) -> Upstream:
        try:
            response = await with_timeout(
                self._client.request(method, path, headers=headers, json=json, content=content),
                self._timeout_s,
                operation="identity.call",
            )
        except httpx.TransportError as exc:
            raise DependencyUnavailableError("The identity service is unreachable.") from exc
        if response.status_code >= 500:
            raise DependencyUnavailableError("The identity service failed; please retry.")
        kept = {}
        if "retry-after" in response.headers:
            kept["Retry-After"] = response.headers["retry-after"]
        location = response.headers.get("location")
        if location and location.startswith("/"):
            kept["Location"] = "/v1" + location
        return Upstream(
            status=response.status_code,
            content=response.content,
            media_type=response.headers.get("content-type"),
            headers=kept,
        )
