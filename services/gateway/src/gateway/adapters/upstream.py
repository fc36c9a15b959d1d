"""Calls to the services behind the gateway: a deadline per attempt, a breaker per service,
retries of what is safe to retry, and one typed error per kind of failure.

Failures and what the caller sees (problems rendered by ``gateway.adapters.http.proxy``):

============================================  =====================================  ========
failure                                       error                                  answer
============================================  =====================================  ========
over the service's concurrency limit          UpstreamOverloadedError (not sent)       503
connection refused / connect timeout          UpstreamUnavailableError (not reached)   503
circuit open (no call made)                   UpstreamUnavailableError (circuit open)  503
the service answered 503                      UpstreamUnavailableError (reached)       503
  ... with a ``<x>.overloaded`` problem         the same, that code (not a failure)      503
connection dropped mid-exchange               UpstreamUnavailableError (reached)       503
no answer within ``timeout_s``                UpstreamTimeoutError                     504
any other 5xx, or a body that is not JSON     UpstreamFailedError                      502
============================================  =====================================  ========

Every one of them but the refusals (the gateway's and the service's own ``.overloaded``) counts
against the service's breaker: a service shedding load is working, and opening its circuit would
refuse its reads too; 2xx-4xx answers are the
service working and count as successes. A refusal by admission control
(``gateway.adapters.admission``) happens before the breaker and is never retried: the service is
already at its limit.

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

The first attempt runs without the retry machinery (tenacity costs ~19 us a call here); only a
failure worth retrying enters it.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from gateway.adapters.transport import Answer, DroppedError, NotSentError, Transport
from gateway.domain.admission import Outcome
from shared.errors import (
    DependencyUnavailableError,
    InfrastructureError,
    OperationTimeoutError,
)
from shared.observability import inject_headers
from shared.resilience import AsyncCircuitBreaker, RetryPolicy, run_with_retry, with_timeout
from shared.resilience.breaker import CIRCUIT_OPEN_CODE

if TYPE_CHECKING:
    from gateway.adapters.admission import Admission

__all__ = [
    "UpstreamClient",
    "UpstreamFailedError",
    "UpstreamOverloadedError",
    "UpstreamRequest",
    "UpstreamResponse",
    "UpstreamTimeoutError",
    "UpstreamUnavailableError",
    "is_refusal",
]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_OVERLOADED_CODE = re.compile(r"[a-z][a-z0-9_]*\.overloaded")
_REFUSED_MESSAGE = (
    "The service behind this operation is at capacity; nothing was done. "
    "Retry after the Retry-After delay (with the same Idempotency-Key)."
)
_RETRIED_STATUSES = frozenset({502, 503, 504})


class UpstreamUnavailableError(DependencyUnavailableError):
    """The service could not be reached, refused to work (503), or its breaker is open.

    ``overloaded_code`` is the service's own ``<x>.overloaded`` code when its 503 was a
    deliberate refusal (backpressure: nothing was done); the caller sees that code.
    """

    code = "dependency.unavailable"
    default_message = "The service behind this operation is unavailable; retry later."

    def __init__(
        self,
        upstream: str,
        *,
        retry_after_s: int,
        reached: bool,
        circuit_open: bool = False,
        overloaded_code: str | None = None,
    ) -> None:
        message = _REFUSED_MESSAGE if overloaded_code else None
        super().__init__(message, code=overloaded_code, details={"upstream": upstream})
        self.upstream = upstream
        self.retry_after_s = retry_after_s
        self.reached = reached
        self.circuit_open = circuit_open
        self.overloaded = overloaded_code is not None


class UpstreamOverloadedError(DependencyUnavailableError):
    """Admission control refused the call: the service is at its concurrency limit. Nothing
    was sent, so the same request (and Idempotency-Key) can be retried after Retry-After."""

    code = "gateway.overloaded"
    default_message = (
        "The service behind this operation is at capacity; nothing was done. "
        "Retry after the Retry-After delay (with the same Idempotency-Key)."
    )

    def __init__(self, upstream: str, *, retry_after_s: int) -> None:
        super().__init__(details={"upstream": upstream})
        self.upstream = upstream
        self.retry_after_s = retry_after_s


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
        transport: the wire to the service (:class:`~gateway.adapters.transport.AiohttpTransport`).
        timeout_s: the budget of one attempt.
        breaker: this service's breaker (one per service, so one failing service does not
            fail the others).
        retry: attempts and backoff; what is retried depends on the call (module docstring).
        retry_after_s: the Retry-After of a 503 when the service gave none.
        admission: this service's admission control (None: every call is let through).
        sleep: replaces ``asyncio.sleep`` between retries (tests).
    """

    def __init__(
        self,
        name: str,
        transport: Transport,
        *,
        timeout_s: float,
        breaker: AsyncCircuitBreaker,
        retry: RetryPolicy,
        retry_after_s: int = 1,
        admission: Admission | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.transport = transport
        self.breaker = breaker
        self.admission = admission
        self._timeout_s = timeout_s
        self._retry = retry
        self._retry_after_s = retry_after_s
        self._sleep = sleep or asyncio.sleep
        self._span_name = {m: f"{m} {name}" for m in ("GET", "POST", "PUT", "PATCH", "DELETE")}

    async def send(self, request: UpstreamRequest) -> UpstreamResponse:
        """Call the service; return its answer below 500 or raise one of the Upstream errors."""
        try:
            return await self._attempt(request)
        except Exception as exc:
            retry_if = _retry_idempotent if request.idempotent else _retry_unsent
            if self._retry.attempts <= 1 or not retry_if(exc):
                raise
        # A failure worth retrying: the rest follow the policy, its backoff continued.
        policy = self._retry
        first_wait = min(policy.max_delay_s, policy.initial_delay_s)
        # Full jitter (not a secret): spreads the retries of callers that failed together.
        await self._sleep(random.uniform(0, first_wait))  # noqa: S311  # nosec B311
        rest = replace(
            policy,
            attempts=policy.attempts - 1,
            initial_delay_s=policy.initial_delay_s * 2,
            retry_if=retry_if,
        )
        return await run_with_retry(
            lambda: self._attempt(request),
            policy=rest,
            operation=f"{self.name}.{request.method.lower()}",
            sleep=self._sleep,
        )

    async def _attempt(self, request: UpstreamRequest) -> UpstreamResponse:
        admission = self.admission
        if admission is None:
            return await self._guarded(request)
        permit = await admission.acquire()
        outcome = Outcome.IGNORED
        try:
            response = await self._guarded(request)
            outcome = Outcome.SUCCESS
            return response
        except UpstreamTimeoutError:
            outcome = Outcome.DROPPED
            raise
        finally:
            admission.release(permit, outcome)

    async def _guarded(self, request: UpstreamRequest) -> UpstreamResponse:
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
        name = self._span_name.get(request.method) or f"{request.method} {self.name}"
        with _tracer.start_as_current_span(
            name,
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
        target = request.path
        if request.query:
            target += "?" + urlencode(request.query, quote_via=quote, safe="")
        try:
            answer = await with_timeout(
                self.transport.exchange(request.method, target, headers, request.content),
                self._timeout_s,
                operation=f"{self.name}.call",
            )
        except (OperationTimeoutError, TimeoutError) as exc:
            raise UpstreamTimeoutError(self.name, timeout_s=self._timeout_s) from exc
        except NotSentError as exc:
            raise self._unavailable(reached=False) from exc
        except DroppedError as exc:
            raise self._unavailable(reached=True) from exc
        return self._answer(answer)

    def _answer(self, answer: Answer) -> UpstreamResponse:
        status = answer.status
        if status == 503:
            hint = answer.headers.get("retry-after", "")
            retry_after = int(hint) if hint.isdigit() and 0 < int(hint) <= 3600 else None
            raise UpstreamUnavailableError(
                self.name,
                retry_after_s=retry_after or self._retry_after_s,
                reached=True,
                overloaded_code=_overloaded_code(answer),
            )
        if status >= 500:
            raise UpstreamFailedError(self.name, status=status)
        response = UpstreamResponse(status, answer.content, answer.headers)
        if response.content and not _is_json(response.media_type):
            raise UpstreamFailedError(self.name, status=status)
        return response

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


def _overloaded_code(answer: Answer) -> str | None:
    """The code of a 503 problem that is a deliberate refusal (``orders.overloaded``), if any."""
    if not answer.content or not _is_json(answer.headers.get("content-type", "").split(";")[0]):
        return None
    try:
        code = json.loads(answer.content).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) and _OVERLOADED_CODE.fullmatch(code) else None


def is_refusal(exc: BaseException) -> bool:
    """True for a service's deliberate 503 refusal: not a failure for its breaker."""
    return isinstance(exc, UpstreamUnavailableError) and exc.overloaded


def _retry_idempotent(exc: BaseException) -> bool:
    if isinstance(exc, UpstreamUnavailableError):
        return not exc.circuit_open and not exc.overloaded
    return isinstance(exc, UpstreamFailedError) and exc.status in _RETRIED_STATUSES


def _retry_unsent(exc: BaseException) -> bool:
    return isinstance(exc, UpstreamUnavailableError) and not exc.reached and not exc.circuit_open
