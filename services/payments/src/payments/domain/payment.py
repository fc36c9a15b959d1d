"""The payment of one order: at most one per order, ever; its id is the provider's idempotency key.

Life: ``pending`` -> ``authorized`` | ``failed``; a provider that cannot answer postpones the
payment (``next_attempt_at``, backoff with jitter) and never fails it. A cancel stops the tries
and, when something may be held at the provider, moves the payment to ``voiding`` until the
worker has made sure nothing stays authorised (``voided`` or ``cancelled``); ``voiding_since``
keeps when that started, for the gauge of money held for cancelled orders.

The worker *claims* a due payment (a token and a lease) before calling the provider outside any
transaction, then records the result in a second transaction. Recording is safe to repeat and
safe when stale: a definitive answer is the truth whoever brings it (one idempotency key, one
answer at the provider), while a postponement only counts from the claim that is current.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypedDict

from payments.domain.events import (
    DomainEvent,
    PaymentAuthorizationDeferred,
    PaymentAuthorized,
    PaymentFailed,
    PaymentVoided,
)
from payments.domain.schedule import RetrySchedule
from payments.domain.values import (
    Attempt,
    AuthorizationResult,
    Authorized,
    Declined,
    FailureReason,
    Money,
    PaymentStatus,
    ProviderCall,
    Unavailable,
    VoidResult,
)

__all__ = ["CancelledOrder", "Claim", "EventRecorder", "Payment"]

_WORK = (PaymentStatus.PENDING, PaymentStatus.VOIDING)


class _Ids(TypedDict):
    """The fields every event of a payment shares."""

    org_id: uuid.UUID
    occurred_at: datetime
    payment_id: uuid.UUID
    order_id: uuid.UUID


class EventRecorder:
    """Base of the aggregates: records domain events until the unit of work pulls them."""

    def _record(self, event: DomainEvent) -> None:
        self.__dict__.setdefault("_events", []).append(event)

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded since the last pull."""
        events: list[DomainEvent] = self.__dict__.pop("_events", [])
        return events


@dataclass(frozen=True, slots=True)
class Claim:
    """A due payment handed to one worker until ``until``: what it needs to call the provider."""

    token: uuid.UUID
    until: datetime
    payment_id: uuid.UUID
    org_id: uuid.UUID
    order_id: uuid.UUID
    amount: Money
    status: PaymentStatus
    provider_reference: str | None
    # Opaque propagation headers (W3C trace context) of the payment's last change, so the
    # attempt can be traced as part of the order's saga; None when none was recorded.
    trace_context: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CancelledOrder:
    """A cancel for an order payments never saw: a later payment request does nothing."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    causation_id: uuid.UUID
    cancelled_at: datetime


@dataclass(eq=False)
class Payment(EventRecorder):
    """The payment of one order (payments keeps at most one per order id)."""

    id: uuid.UUID
    org_id: uuid.UUID
    order_id: uuid.UUID
    amount: Money
    provider: str
    status: PaymentStatus
    causation_id: uuid.UUID
    created_at: datetime
    updated_at: datetime
    attempts: tuple[Attempt, ...] = ()
    next_attempt_at: datetime | None = None
    postponements: int = 0
    claim_token: uuid.UUID | None = None
    claimed_until: datetime | None = None
    provider_reference: str | None = None
    failure_reason: FailureReason | None = None
    provider_code: str | None = None
    authorized_at: datetime | None = None
    cancel_causation_id: uuid.UUID | None = None
    voided_at: datetime | None = None
    voiding_since: datetime | None = None
    _stored_attempts: int = field(init=False, repr=False, default=0)

    def __post_init__(self) -> None:
        self._stored_attempts = len(self.attempts)

    @classmethod
    def request(
        cls,
        *,
        id: uuid.UUID,
        org_id: uuid.UUID,
        order_id: uuid.UUID,
        amount: Money,
        provider: str,
        causation_id: uuid.UUID,
        now: datetime,
    ) -> Payment:
        """A new pending payment, due at once."""
        return cls(
            id=id,
            org_id=org_id,
            order_id=order_id,
            amount=amount,
            provider=provider,
            status=PaymentStatus.PENDING,
            causation_id=causation_id,
            created_at=now,
            updated_at=now,
            next_attempt_at=now,
        )

    # -- reading ----------------------------------------------------------------------------

    @property
    def calls_made(self) -> int:
        """Requests sent to the provider so far (refusals of the open circuit excluded)."""
        return sum(1 for attempt in self.attempts if attempt.reached_provider)

    @property
    def new_attempts(self) -> tuple[Attempt, ...]:
        """Attempts added since the payment was loaded or last saved."""
        return self.attempts[self._stored_attempts :]

    def mark_saved(self) -> None:
        """The repository wrote the attempts: none is new any more."""
        self._stored_attempts = len(self.attempts)

    def claimed_at(self, now: datetime) -> bool:
        """True while a worker's lease on the payment runs (a call may be in flight)."""
        return self.claimed_until is not None and self.claimed_until > now

    def due_at(self, now: datetime) -> bool:
        """True if the worker has something to do for this payment at ``now``."""
        return (
            self.status in _WORK
            and self.next_attempt_at is not None
            and self.next_attempt_at <= now
            and not self.claimed_at(now)
        )

    # -- the worker's side ------------------------------------------------------------------

    def claim(self, token: uuid.UUID, until: datetime) -> Claim:
        """Hand the payment to one worker until ``until`` (the repository does it in SQL too)."""
        self.claim_token, self.claimed_until = token, until
        return Claim(
            token=token,
            until=until,
            payment_id=self.id,
            org_id=self.org_id,
            order_id=self.order_id,
            amount=self.amount,
            status=self.status,
            provider_reference=self.provider_reference,
        )

    def record_authorization(
        self,
        result: AuthorizationResult,
        *,
        token: uuid.UUID,
        now: datetime,
        schedule: RetrySchedule,
        rand: float,
    ) -> None:
        """Record one authorisation run: its calls, then what its outcome means now.

        Pending: authorised, failed, or postponed (only by the current claim: a stale worker's
        postponement must not reschedule a payment another worker is trying). Voiding or
        cancelled (the order was cancelled meanwhile): an authorisation is remembered so that it
        gets voided; a decline proves the provider holds nothing for this key.
        """
        current = self._release(token)
        self._add_calls(result.calls)
        self.updated_at = now
        outcome = result.outcome
        if self.status is PaymentStatus.PENDING:
            self._settle_pending(outcome, current=current, now=now, schedule=schedule, rand=rand)
        elif self.status in (PaymentStatus.VOIDING, PaymentStatus.CANCELLED):
            self._settle_cancelled(outcome, current=current, now=now)

    def _settle_pending(
        self,
        outcome: Authorized | Declined | Unavailable,
        *,
        current: bool,
        now: datetime,
        schedule: RetrySchedule,
        rand: float,
    ) -> None:
        match outcome:
            case Authorized(reference=reference):
                self.status, self.provider_reference = PaymentStatus.AUTHORIZED, reference
                self.authorized_at, self.next_attempt_at = now, None
                self._record(
                    PaymentAuthorized(
                        **self._ids(now),
                        causation_id=self.causation_id,
                        amount=self.amount,
                        provider=self.provider,
                        provider_reference=reference,
                        attempts=max(self.calls_made, 1),
                    )
                )
            case Declined(reason=reason, provider_code=code):
                self.status, self.failure_reason, self.provider_code = (
                    PaymentStatus.FAILED,
                    reason,
                    code,
                )
                self.next_attempt_at = None
                self._record(
                    PaymentFailed(
                        **self._ids(now),
                        causation_id=self.causation_id,
                        amount=self.amount,
                        reason=reason,
                        provider_code=code,
                        attempts=max(self.calls_made, 1),
                    )
                )
            case Unavailable(reason=reason) if current:
                self.postponements += 1
                self.next_attempt_at = now + schedule.delay(self.postponements, rand)
                self._record(
                    PaymentAuthorizationDeferred(
                        **self._ids(now),
                        reason=reason,
                        attempts=self.calls_made,
                        next_attempt_at=self.next_attempt_at,
                    )
                )

    def _settle_cancelled(
        self, outcome: Authorized | Declined | Unavailable, *, current: bool, now: datetime
    ) -> None:
        match outcome:
            case Authorized(reference=reference):
                # Obtained after the cancel: it must be voided, however the cancel ended.
                self.provider_reference = self.provider_reference or reference
                self._start_voiding(now)
            case Declined() if self.provider_reference is None:
                # One key, one answer: the provider holds nothing for this payment.
                self._cancel()
            case Unavailable() if current and self.calls_made == 0:
                self._cancel()  # no request ever reached the provider

    def record_void(
        self,
        result: VoidResult | None,
        *,
        token: uuid.UUID,
        now: datetime,
        schedule: RetrySchedule,
        rand: float,
    ) -> None:
        """Record a voiding run: ``None`` when the provider could not answer (tried later)."""
        current = self._release(token)
        if self.status is not PaymentStatus.VOIDING:
            return  # recorded already (a repeated or stale run)
        self.updated_at = now
        if result is None:
            if current:
                self.postponements += 1
                self.next_attempt_at = now + schedule.delay(self.postponements, rand)
            return
        if result.voided_reference is None:
            self._cancel()
            return
        self.status, self.provider_reference = PaymentStatus.VOIDED, result.voided_reference
        self.voided_at, self.next_attempt_at = now, None
        self._record(
            PaymentVoided(
                **self._ids(now),
                causation_id=self.cancel_causation_id or self.causation_id,
                amount=self.amount,
                provider_reference=result.voided_reference,
            )
        )

    # -- the saga's side --------------------------------------------------------------------

    def request_cancel(self, causation_id: uuid.UUID, now: datetime) -> bool:
        """Stop trying; return True if the worker must now make sure nothing stays authorised.

        A pending payment that never reached the provider, with no call in flight, is cancelled
        at once. Failed, voided and cancelled payments (and a second cancel) change nothing.
        """
        if self.status not in (PaymentStatus.PENDING, PaymentStatus.AUTHORIZED):
            return False
        self.cancel_causation_id, self.updated_at = causation_id, now
        if (
            self.status is PaymentStatus.PENDING
            and self.calls_made == 0
            and not self.claimed_at(now)
        ):
            self._cancel()
            return False
        self._start_voiding(now)
        return True

    # -- helpers ----------------------------------------------------------------------------

    def _ids(self, now: datetime) -> _Ids:
        return {
            "org_id": self.org_id,
            "occurred_at": now,
            "payment_id": self.id,
            "order_id": self.order_id,
        }

    def _release(self, token: uuid.UUID) -> bool:
        """End the claim if ``token`` holds it; return whether it did."""
        if self.claim_token != token:
            return False
        self.claim_token, self.claimed_until = None, None
        return True

    def _add_calls(self, calls: Iterable[ProviderCall]) -> None:
        added = list(self.attempts)
        for call in calls:
            added.append(
                Attempt(
                    number=len(added) + 1,
                    attempted_at=call.started_at,
                    outcome=call.outcome,
                    provider_status=call.provider_status,
                    duration_ms=max(call.duration_ms, 0),
                )
            )
        self.attempts = tuple(added)

    def _start_voiding(self, now: datetime) -> None:
        # Since when money may be held for a cancelled order: the first time only, so an
        # authorisation obtained after a finished void does not make the wait look short.
        self.voiding_since = self.voiding_since or now
        self.status, self.postponements, self.next_attempt_at = PaymentStatus.VOIDING, 0, now

    def _cancel(self) -> None:
        self.status, self.next_attempt_at = PaymentStatus.CANCELLED, None
