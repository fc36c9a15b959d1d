"""Sending webhooks over HTTP: a deadline on every call, one circuit breaker per endpoint, and
no way into the service's own network.

- The whole attempt (DNS, connect, TLS, request, response headers) has one deadline
  (``timeout_s``, 10 s by the contract); the response body is never read.
- One :class:`shared.resilience.AsyncCircuitBreaker` per endpoint: timeouts, connection errors,
  5xx and 429 count as failures; after ``fail_max`` in a row the endpoint's attempts are not
  made for ``reset_s`` (they come back as ``circuit_open``), then one trial call decides.
  A failing endpoint therefore costs the worker nothing while its circuit is open, and never
  slows the others. Breakers live in this process (each worker replica has its own).
- Redirects are not followed (a 3xx is a failed attempt). Before connecting, the host name is
  resolved and every address must be public (loopback only where allowed): a name that
  resolves into a private network is a ``connect_error``. (httpx resolves again to connect; a
  DNS answer that changes in between is not caught here.)
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import OrderedDict
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import structlog

from notifications.application.ports import SendResult, WebhookRequest
from notifications.domain.urls import address_allowed
from notifications.domain.values import AttemptError
from shared.errors import DependencyUnavailableError, OperationTimeoutError
from shared.observability.metrics import Metrics
from shared.resilience import AsyncCircuitBreaker, deadline
from shared.resilience.breaker import CIRCUIT_OPEN_CODE

__all__ = ["HttpxWebhookSender"]

log = structlog.get_logger(__name__)

_BREAKER_FAILURE_STATUSES = frozenset({429}) | frozenset(range(500, 600))
USER_AGENT = "Ordo-Webhooks/1.0"


class _EndpointFailed(Exception):
    """An answer the breaker counts as a failure (5xx, 429)."""

    def __init__(self, status: int) -> None:
        super().__init__(f"endpoint answered {status}")
        self.status = status


class _ForbiddenTarget(Exception):
    """The URL's host resolves to an address deliveries may not reach."""


class HttpxWebhookSender:
    """Implements ``WebhookSender`` with httpx.

    Args:
        timeout_s: the deadline of one attempt.
        breaker_fail_max: consecutive counted failures that open an endpoint's circuit.
        breaker_reset_s: how long an open circuit stays open before a trial call.
        allow_loopback: deliveries may reach loopback addresses (local runs and tests).
        max_connections: the HTTP client's pool size.
        metrics: where the breakers report their state; the process default when None.
        max_breakers: breakers kept (least recently used ones are forgotten beyond it).
        client: an httpx client to use instead of building one (tests).
    """

    def __init__(
        self,
        *,
        timeout_s: float = 10.0,
        breaker_fail_max: int = 5,
        breaker_reset_s: float = 60.0,
        allow_loopback: bool = False,
        max_connections: int = 64,
        metrics: Metrics | None = None,
        max_breakers: int = 10_000,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._timeout_s = timeout_s
        self._fail_max = breaker_fail_max
        self._reset_s = breaker_reset_s
        self._allow_loopback = allow_loopback
        self._metrics = metrics
        self._max_breakers = max_breakers
        self._breakers: OrderedDict[uuid.UUID, AsyncCircuitBreaker] = OrderedDict()
        self._client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,
            trust_env=False,
            limits=httpx.Limits(
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
            headers={"user-agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._client.aclose()

    def breaker(self, endpoint_id: uuid.UUID) -> AsyncCircuitBreaker:
        """The endpoint's breaker (created closed on first use)."""
        breaker = self._breakers.get(endpoint_id)
        if breaker is None:
            breaker = AsyncCircuitBreaker(
                f"webhook-endpoint:{endpoint_id}",
                fail_max=self._fail_max,
                reset_timeout_s=self._reset_s,
                metrics=self._metrics,
            )
            self._breakers[endpoint_id] = breaker
            while len(self._breakers) > self._max_breakers:
                self._breakers.popitem(last=False)
        else:
            self._breakers.move_to_end(endpoint_id)
        return breaker

    async def send(self, request: WebhookRequest) -> SendResult:
        """Make the attempt through the endpoint's breaker; every failure is a result."""
        started = time.perf_counter()

        def elapsed_ms() -> int:
            return int((time.perf_counter() - started) * 1000)

        try:
            status = await self.breaker(request.endpoint_id).call(self._post, request)
        except DependencyUnavailableError as exc:
            if exc.code != CIRCUIT_OPEN_CODE:  # pragma: no cover - only the breaker raises it
                raise
            wait = exc.details.get("retry_after_s")
            return SendResult(
                None,
                AttemptError.CIRCUIT_OPEN,
                0,
                timedelta(seconds=float(wait)) if wait is not None else None,
            )
        except _EndpointFailed as exc:
            return SendResult(exc.status, AttemptError.HTTP_STATUS, elapsed_ms())
        except (OperationTimeoutError, TimeoutError, httpx.TimeoutException):
            return SendResult(None, AttemptError.TIMEOUT, elapsed_ms())
        except (_ForbiddenTarget, httpx.HTTPError, OSError) as exc:
            log.info(
                "webhook.connect_failed",
                endpoint_id=str(request.endpoint_id),
                error_type=type(exc).__name__,
            )
            return SendResult(None, AttemptError.CONNECT_ERROR, elapsed_ms())
        error = None if 200 <= status < 300 else AttemptError.HTTP_STATUS
        return SendResult(status, error, elapsed_ms())

    async def _post(self, request: WebhookRequest) -> int:
        async with deadline(self._timeout_s, operation="webhook.post"):
            await self._check_target(request.url)
            headers = {"content-type": "application/json", **request.headers}
            async with self._client.stream(
                "POST", request.url, content=request.body.encode(), headers=headers
            ) as response:
                status = response.status_code
        if status in _BREAKER_FAILURE_STATUSES:
            raise _EndpointFailed(status)
        return status

    async def _check_target(self, url: str) -> None:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = {str(info[4][0]) for info in infos}
        if not addresses or not all(
            address_allowed(a, allow_loopback=self._allow_loopback) for a in addresses
        ):
            raise _ForbiddenTarget(host)
