"""Calls to the services behind the gateway: a deadline per attempt, a breaker per service,
retries of what is safe to retry, and one typed error per kind of failure.

Failures and what the caller sees (problems rendered by ``gateway.adapters.http.proxy``):

============================================  =====================================  ========
failure                                       error                                  answer
============================================  =====================================  ========
connection refused / connect timeout          UpstreamUnavailableError (not reached)   503
circuit open (no call made)                   UpstreamUnavailableError (circuit open)  503
the service answered 503                      UpstreamUnavailableError (reached)       503
connection dropped mid-exchange               UpstreamUnavailableError (reached)       503
no answer within ``timeout_s``                UpstreamTimeoutError                     504
any other 5xx, or a body that is not JSON     UpstreamFailedError                      502
============================================  =====================================  ========

Every one of them counts against the service's breaker; 2xx-4xx answers are the service
working and count as successes.

Retries (capped exponential backoff with full jitter, each attempt through the breaker):

- Idempotent calls (GET, HEAD, PUT, DELETE, and POSTs the contract calls naturally idempotent,
  like cancelling an order) are retried after a connection failure, a dropped connection, and
  502/503/504 answers. Not after a timeout: the service is slow, and a retry would double the
  load on it while spending the caller's whole latency budget; the 504 lets the caller decide.
- Every other call, a POST with an Idempotency-Key included, is retried only when the request
  provably never left (the connection was refused or never established). The key makes a retry
  safe, but the caller holds it and is told so (503/504 say "retry with the same
  Idempotency-Key"): a retry by the gateway after the request reached the service could race
  its own first attempt (409 idempotency.in_progress) and multiplies the load on a service that
  is failing, with every layer above retrying too.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from shared.errors import (
    DependencyUnavailableError,
    InfrastructureError,
    OperationTimeoutError,
)
from shared.observability import inject_headers
from shared.resilience import AsyncCircuitBreaker, RetryPolicy, run_with_retry, with_timeout
from shared.resilience.breaker import CIRCUIT_OPEN_CODE

__all__ = [
    "UpstreamClient",
    "UpstreamFailedError",
    "UpstreamRequest",
    "UpstreamResponse",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_RETRIED_STATUSES = frozenset({502, 503, 504})
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class UpstreamUnavailableError(DependencyUnavailableError):
    """The service could not be reached, refused to work (503), or its breaker is open."""

    code = "dependency.unavailable"
    default_message = "The service behind this operation is unavailable; retry later."

    def __init__(
        self,
        upstream: str,
        *,
        retry_after_s: int,
        reached: bool,
        circuit_open: bool = False,
    ) -> None:
        super().__init__(details={"upstream": upstream})
        self.upstream = upstream
        self.retry_after_s = retry_after_s
        self.reached = reached
        self.circuit_open = circuit_open


class UpstreamTimeoutError(OperationTimeoutError):
    """The service did not answer within the deadline; the outcome is unknown."""

    code = "operation.timeout"
    default_message = (
        "The service behind this operation did not answer in time; the outcome is unknown. "
        "Retry with the same Idempotency-Key."
    )

    def __init__(self, upstream: str, *, timeout_s: float) -> None:
        super().__init__(details={"upstream": upstream, "timeout_s": timeout_s})
        self.upstream = upstream


class UpstreamFailedError(InfrastructureError):
    """The service answered with a server error (other than 503) or an unreadable body."""

    code = "dependency.failed"
    default_message = "The service behind this operation failed."

    def __init__(self, upstream: str, *, status: int) -> None:
        super().__init__(details={"upstream": upstream, "status": status})
        self.upstream = upstream
        self.status = status


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """One call to a service's internal API (``path`` is the internal path)."""

    method: str
    path: str
    query: Sequence[tuple[str, str]] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    content: bytes | None = None
    idempotent: bool = False


@dataclass(frozen=True, slots=True)
class UpstreamResponse:
    """A service's answer below 500 (lower-case header names)."""

    status: int
    content: bytes
    headers: Mapping[str, str]

    @property
    def media_type(self) -> str | None:
        """The Content-Type without parameters, lower-case."""
        value = self.headers.get("content-type")
        return value.split(";", 1)[0].strip().lower() if value else None

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.content)


class UpstreamClient:
    """Calls one service's internal API.

    Args:
        name: the service (``"catalog"``): breaker and metric label, logs.
        http: an ``httpx.AsyncClient`` whose base URL is the service's.
        timeout_s: the budget of one attempt.
        breaker: this service's breaker (one per service, so one failing service does not
            fail the others).
        retry: attempts and backoff; what is retried depends on the call (module docstring).
        retry_after_s: the Retry-After of a 503 when the service gave none.
        sleep: replaces ``asyncio.sleep`` between retries (tests).
    """

    def __init__(
        self,
        name: str,
        http: httpx.AsyncClient,
        *,
        timeout_s: float,
        breaker: AsyncCircuitBreaker,
        retry: RetryPolicy,
        retry_after_s: int = 1,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.http = http
        self.breaker = breaker
        self._timeout_s = timeout_s
        self._retry = retry
        self._retry_after_s = retry_after_s
        self._sleep = sleep

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Call the service; return its answer below 500 or raise one of the Upstream errors."""
        retry_if = _retry_idempotent if request.idempotent else _retry_unsent
        policy = replace(self._retry, retry_if=retry_if)
        return await run_with_retry(
            lambda: self._attempt(request),
            policy=policy,
            operation=f"{self.name}.{request.method.lower()}",
            sleep=self._sleep,
        )

    async def _attempt(self, request: UpstreamRequest) -> UpstreamResponse:
        try:
            return await self.breaker.call(self._send, request)
        except DependencyUnavailableError as exc:
            if exc.code != CIRCUIT_OPEN_CODE:
                raise
            remaining = float(exc.details.get("retry_after_s", self._retry_after_s))
            raise UpstreamUnavailableError(
                self.name,
                retry_after_s=max(1, math.ceil(remaining)),
                reached=False,
                circuit_open=True,
            ) from exc

    async def _send(self, request: UpstreamRequest) -> UpstreamResponse:
        with _tracer.start_as_current_span(
            f"{request.method} {self.name}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": request.method,
                "server.address": self.name,
                "url.path": request.path,
            },
        ) as span:
            headers = dict(request.headers)
            inject_headers(headers)  # the client span is the service's parent
            try:
                response = await self._exchange(request, headers)
            except InfrastructureError as exc:
                span.set_status(Status(StatusCode.ERROR, exc.code))
                log.warning(
                    "upstream_call_failed", upstream=self.name, code=exc.code, path=request.path
                )
                raise
            span.set_attribute("http.response.status_code", response.status)
            return response

    async def _exchange(
        self, request: UpstreamRequest, headers: dict[str, str]
    ) -> UpstreamResponse:
        try:
            response = await with_timeout(
                self.http.request(
                    request.method,
                    request.path,
                    params=list(request.query),
                    headers=headers,
                    content=request.content,
                ),
                self._timeout_s,
                operation=f"{self.name}.call",
            )
        except OperationTimeoutError as exc:
            raise UpstreamTimeoutError(self.name, timeout_s=self._timeout_s) from exc
        except _UNSENT as exc:
            raise self._unavailable(reached=False) from exc
        except httpx.TimeoutException as exc:
            raise UpstreamTimeoutError(self.name, timeout_s=self._timeout_s) from exc
        except httpx.TransportError as exc:
            raise self._unavailable(reached=True) from exc
        status = response.status_code
        if status == 503:
            hint = response.headers.get("retry-after", "")
            retry_after = int(hint) if hint.isdigit() and 0 < int(hint) <= 3600 else None
            raise self._unavailable(reached=True, retry_after_s=retry_after)
        if status >= 500:
            raise UpstreamFailedError(self.name, status=status)
        answer = UpstreamResponse(status, response.content, dict(response.headers))
        if answer.content and not _is_json(answer.media_type):
            raise UpstreamFailedError(self.name, status=status)
        return answer

    def _unavailable(
        self, *, reached: bool, retry_after_s: int | None = None
    ) -> UpstreamUnavailableError:
        return UpstreamUnavailableError(
            self.name, retry_after_s=retry_after_s or self._retry_after_s, reached=reached
        )


def _is_json(media_type: str | None) -> bool:
    return media_type is not None and (
        media_type == "application/json" or media_type.endswith("+json")
    )


def _retry_idempotent(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamUnavailableError):
        return not exc.circuit_open
    return isinstance(exc, UpstreamFailedError) and exc.status in _RETRIED_STATUSES


def _retry_unsent(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamUnavailableError) and not exc.reached and not exc.circuit_open
