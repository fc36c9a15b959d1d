"""The payment provider's HTTP API (infra/fakes/payment-provider stands in for it locally).

Every call has a deadline, goes through one circuit breaker (its state is the
``breaker_state{name="payment-provider"}`` gauge) and is retried with jittered exponential backoff
within a small budget when it failed transiently: a 5xx or 429, a timeout, a connection error.
A 4xx is the provider's definitive answer and is never retried; a replay (200 with
``Idempotent-Replayed: true``) is the original answer, so it counts like the first one. While
the circuit is open no request is sent at all.

``authorize`` reports every call it made (they become the payment's attempts) and never raises
for the provider's trouble; ``void`` and ``find_authorizations`` raise the transient errors below
once their budget is spent.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import httpx
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from payments.application.ports import AuthorizationRequest, ProviderAuthorization
from payments.domain.values import (
    AttemptOutcome,
    AuthorizationResult,
    Authorized,
    Declined,
    DeferralReason,
    FailureReason,
    ProviderCall,
    Unavailable,
)
from shared.clock import Clock, SystemClock
from shared.errors import (
    AppError,
    DependencyUnavailableError,
    OperationTimeoutError,
    is_transient,
)
from shared.resilience import AsyncCircuitBreaker, RetryPolicy, run_with_retry, with_timeout
from shared.resilience.breaker import CIRCUIT_OPEN_CODE

__all__ = [
    "BREAKER_NAME",
    "HttpPaymentProvider",
    "ProviderAnswerError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
]

T = TypeVar("T")

_tracer = trace.get_tracer(__name__)

BREAKER_NAME = "payment-provider"
_REPLAYED = "idempotent-replayed"
_DECLINE_REASONS = {
    "card_declined": FailureReason.DECLINED,
    "insufficient_funds": FailureReason.INSUFFICIENT_FUNDS,
}
_DEFERRAL = {
    AttemptOutcome.TIMEOUT: DeferralReason.PROVIDER_TIMEOUT,
    AttemptOutcome.CIRCUIT_OPEN: DeferralReason.CIRCUIT_OPEN,
}


class ProviderUnavailableError(DependencyUnavailableError):
    """The provider answered 5xx/429, sent an unreadable success, or could not be reached."""

    code = "payment_provider.unavailable"
    default_message = "The payment provider is unavailable."
    outcome: ClassVar[AttemptOutcome] = AttemptOutcome.PROVIDER_ERROR

    def __init__(self, message: str | None = None, *, status: int | None = None) -> None:
        super().__init__(message, details={"provider_status": status} if status else None)
        self.status = status


class ProviderTimeoutError(OperationTimeoutError):
    """The provider did not answer within the call's deadline."""

    code = "payment_provider.timeout"
    default_message = "The payment provider did not answer in time."
    outcome: ClassVar[AttemptOutcome] = AttemptOutcome.TIMEOUT
    status: int | None = None


class ProviderAnswerError(AppError):
    """The provider refused a void or a lookup with a 4xx it should never send us (a bug)."""

    code = "payment_provider.rejected"
    default_message = "The payment provider refused the request."


@dataclass(frozen=True, slots=True)
class _Answer:
    """A definitive answer to an authorisation request."""

    outcome: Authorized | Declined
    status: int


def _not_circuit_open(exc: BaseException) -> bool:
    """Retry transient failures, but not the open circuit's refusals: nothing would be sent."""
    return is_transient(exc) and getattr(exc, "code", None) != CIRCUIT_OPEN_CODE


class HttpPaymentProvider:
    """Implements the ``PaymentProvider`` port over httpx.

    Args:
        client: an ``httpx.AsyncClient`` whose ``base_url`` is the provider (owned by the caller).
        name: the provider's name as payments reports it (``fakepay``).
        breaker: the provider's circuit breaker (one per process).
        retry: attempts and backoff within one run; its ``retry_if`` is replaced so that the
            open circuit is not retried.
        call_timeout_s: the deadline of one HTTP call, connection included.
        card_token: the card token sent with every authorisation (the order's payment method
            is not part of the saga's contract yet; tests pass the fake's magic decline tokens).
        clock: when each call started (the attempts' ``attempted_at``).
    """

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        name: str,
        breaker: AsyncCircuitBreaker,
        retry: RetryPolicy,
        call_timeout_s: float,
        card_token: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._client = client
        self._name = name
        self._breaker = breaker
        self._retry = RetryPolicy(
            attempts=retry.attempts,
            initial_delay_s=retry.initial_delay_s,
            max_delay_s=retry.max_delay_s,
            max_elapsed_s=retry.max_elapsed_s,
            retry_if=_not_circuit_open,
        )
        self._call_timeout_s = call_timeout_s
        self._card_token = card_token
        self._clock = clock or SystemClock()

    @property
    def name(self) -> str:
        """The provider's name."""
        return self._name

    @property
    def breaker(self) -> AsyncCircuitBreaker:
        """The circuit breaker every call goes through."""
        return self._breaker

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Ask for the authorisation, retrying transient failures within the budget."""
        body: dict[str, Any] = {
            "amount_minor": request.amount.amount_minor,
            "currency": request.amount.currency,
            "reference": request.reference,
        }
        if self._card_token is not None:
            body["card_token"] = self._card_token
        headers = {"Idempotency-Key": request.idempotency_key}
        calls: list[ProviderCall] = []

        async def once() -> _Answer:
            started, began = self._clock.now(), time.perf_counter()
            try:
                answer = await self._breaker.call(self._post_authorization, body, headers)
            except (ProviderUnavailableError, ProviderTimeoutError) as exc:
                calls.append(ProviderCall(started, exc.outcome, exc.status, _ms(began)))
                raise
            except DependencyUnavailableError as exc:
                if exc.code != CIRCUIT_OPEN_CODE:
                    raise
                calls.append(ProviderCall(started, AttemptOutcome.CIRCUIT_OPEN, None, 0))
                raise
            outcome = (
                AttemptOutcome.AUTHORIZED
                if isinstance(answer.outcome, Authorized)
                else AttemptOutcome.DECLINED
            )
            calls.append(ProviderCall(started, outcome, answer.status, _ms(began)))
            return answer

        try:
            answer = await run_with_retry(
                once, policy=self._retry, operation="payment_provider.authorize"
            )
        except (ProviderUnavailableError, ProviderTimeoutError, DependencyUnavailableError):
            last = calls[-1].outcome if calls else AttemptOutcome.PROVIDER_ERROR
            reason = _DEFERRAL.get(last, DeferralReason.PROVIDER_ERROR)
            return AuthorizationResult(tuple(calls), Unavailable(reason))
        return AuthorizationResult(tuple(calls), answer.outcome)

    async def find_authorizations(self, reference: str) -> Sequence[ProviderAuthorization]:
        """Every authorisation under ``reference``, oldest first."""

        async def get() -> list[ProviderAuthorization]:
            response = await self._send(
                "GET", "/v1/authorizations", params={"reference": reference}
            )
            if response.status_code != 200:
                raise ProviderAnswerError(details={"provider_status": response.status_code})
            items = _json(response).get("items")
            if not isinstance(items, list):
                raise ProviderUnavailableError("unreadable list", status=response.status_code)
            return [
                ProviderAuthorization(id=str(item["id"]), status=str(item["status"]))
                for item in items
                if isinstance(item, dict) and "id" in item and "status" in item
            ]

        return await self._guarded(get, "payment_provider.find_authorizations")

    async def void(self, authorization_id: str) -> bool:
        """Void the authorisation; False if the provider holds nothing to void under that id."""

        async def post() -> bool:
            path = f"/v1/authorizations/{quote(authorization_id, safe='')}/void"
            response = await self._send("POST", path, route="/v1/authorizations/{id}/void")
            if response.status_code == 200:
                return True
            if response.status_code in (404, 409):
                return False  # unknown, or declined: nothing is held
            raise ProviderAnswerError(details={"provider_status": response.status_code})

        return await self._guarded(post, "payment_provider.void")

    # -- one call ---------------------------------------------------------------------------

    async def _guarded(self, call: Callable[[], Awaitable[T]], operation: str) -> T:
        async def once() -> T:
            return await self._breaker.call(call)

        return await run_with_retry(once, policy=self._retry, operation=operation)

    async def _post_authorization(self, body: dict[str, Any], headers: dict[str, str]) -> _Answer:
        response = await self._send("POST", "/v1/authorizations", json=body, headers=headers)
        status = response.status_code
        if status in (200, 201):
            return _Answer(_authorization_outcome(_json(response), status), status)
        # Any other 4xx: the provider will never accept this request (bad amount, key reused).
        problem = _problem_slug(response)
        return _Answer(Declined(FailureReason.PROVIDER_REJECTED, problem), status)

    async def _send(
        self, method: str, path: str, *, route: str | None = None, **options: Any
    ) -> httpx.Response:
        """One HTTP call under the deadline, in a client span; transport trouble is transient."""
        with _tracer.start_as_current_span(
            f"{method} {self._name}",
            kind=SpanKind.CLIENT,
            attributes={
                "http.request.method": method,
                "server.address": self._name,
                "url.path": route or path,
            },
        ) as span:
            try:
                response = await with_timeout(
                    self._client.request(method, path, **options),
                    self._call_timeout_s,
                    operation="payment_provider.call",
                )
            except (OperationTimeoutError, httpx.TimeoutException) as exc:
                span.set_status(Status(StatusCode.ERROR, "timeout"))
                raise ProviderTimeoutError() from exc
            except httpx.TransportError as exc:
                span.set_status(Status(StatusCode.ERROR, "unreachable"))
                raise ProviderUnavailableError(
                    "The payment provider could not be reached."
                ) from exc
            span.set_attribute("http.response.status_code", response.status_code)
            if response.status_code >= 500 or response.status_code == 429:
                span.set_status(Status(StatusCode.ERROR, str(response.status_code)))
                raise ProviderUnavailableError(status=response.status_code)
            return response


def _ms(began: float) -> int:
    return max(int((time.perf_counter() - began) * 1000), 0)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise ProviderUnavailableError("unreadable answer", status=response.status_code) from exc
    if not isinstance(body, dict):
        raise ProviderUnavailableError("unreadable answer", status=response.status_code)
    return body


def _authorization_outcome(body: dict[str, Any], status: int) -> Authorized | Declined:
    """A 2xx body: authorised (or voided since: it was authorised by this key) or declined."""
    state, reference = body.get("status"), body.get("id")
    if state in ("authorized", "voided") and isinstance(reference, str) and reference:
        return Authorized(reference)
    if state == "declined":
        code = body.get("decline_code")
        code = code[:100] if isinstance(code, str) else None
        return Declined(_DECLINE_REASONS.get(code or "", FailureReason.DECLINED), code)
    # A success we cannot read: the outcome is unknown, so ask again with the same key.
    raise ProviderUnavailableError("unreadable authorisation", status=status)


def _problem_slug(response: httpx.Response) -> str | None:
    """The last segment of a problem's ``type`` (``idempotency-key-reused``), at most 100 chars."""
    try:
        body = response.json()
    except ValueError:
        return None
    kind = body.get("type") if isinstance(body, dict) else None
    if not isinstance(kind, str) or not kind:
        return None
    return kind.rstrip("/").rsplit("/", 1)[-1][:100] or None
