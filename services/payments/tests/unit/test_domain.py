"""The payment's life: authorised, failed, postponed with backoff, cancelled, voided."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from payments.domain.events import (
    PaymentAuthorizationDeferred,
    PaymentAuthorized,
    PaymentFailed,
    PaymentVoided,
)
from payments.domain.payment import Payment
from payments.domain.schedule import RetrySchedule
from payments.domain.values import (
    AttemptOutcome,
    AuthorizationResult,
    Authorized,
    Declined,
    DeferralReason,
    FailureReason,
    Money,
    PaymentStatus,
    ProviderCall,
    Unavailable,
    VoidResult,
)

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SCHEDULE = RetrySchedule(initial_delay_s=1.0, multiplier=2.0, max_delay_s=5.0, jitter=0.5)
LEASE = timedelta(seconds=30)


def new_payment() -> Payment:
    return Payment.request(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        order_id=uuid.uuid4(),
        amount=Money(4997, "EUR"),
        provider="fakepay",
        causation_id=uuid.uuid4(),
        now=NOW,
    )


def call(outcome: AttemptOutcome, status: int | None = None) -> ProviderCall:
    return ProviderCall(NOW, outcome, status, 12)


def authorized(ref: str = "auth_1") -> AuthorizationResult:
    return AuthorizationResult((call(AttemptOutcome.AUTHORIZED, 201),), Authorized(ref))


def unavailable(*outcomes: AttemptOutcome) -> AuthorizationResult:
    reason = (
        DeferralReason.CIRCUIT_OPEN
        if outcomes[-1] is AttemptOutcome.CIRCUIT_OPEN
        else DeferralReason.PROVIDER_ERROR
    )
    return AuthorizationResult(tuple(call(o) for o in outcomes), Unavailable(reason))


def run(payment: Payment, result: AuthorizationResult, now: datetime = NOW, rand: float = 0.0):
    claim = payment.claim(uuid.uuid4(), now + LEASE)
    payment.record_authorization(result, token=claim.token, now=now, schedule=SCHEDULE, rand=rand)
    return claim


def test_a_new_payment_is_pending_and_due_at_once() -> None:
    payment = new_payment()
    assert payment.status is PaymentStatus.PENDING
    assert payment.due_at(NOW)
    assert not payment.due_at(NOW - timedelta(seconds=1))


def test_an_authorisation_ends_the_payment_with_one_event() -> None:
    payment = new_payment()
    run(payment, authorized("auth_9"))
    assert payment.status is PaymentStatus.AUTHORIZED
    assert payment.provider_reference == "auth_9"
    assert payment.authorized_at == NOW
    assert payment.next_attempt_at is None
    assert payment.claim_token is None
    assert not payment.due_at(NOW + timedelta(days=1))
    [event] = payment.pull_events()
    assert isinstance(event, PaymentAuthorized)
    assert (event.provider_reference, event.attempts, event.causation_id) == (
        "auth_9",
        1,
        payment.causation_id,
    )
    assert [a.number for a in payment.attempts] == [1]


def test_a_decline_fails_the_payment_for_good() -> None:
    payment = new_payment()
    declined = Declined(FailureReason.INSUFFICIENT_FUNDS, "insufficient_funds")
    run(payment, AuthorizationResult((call(AttemptOutcome.DECLINED, 201),), declined))
    assert payment.status is PaymentStatus.FAILED
    assert payment.failure_reason is FailureReason.INSUFFICIENT_FUNDS
    [event] = payment.pull_events()
    assert isinstance(event, PaymentFailed)
    assert (event.reason, event.provider_code, event.attempts) == (
        FailureReason.INSUFFICIENT_FUNDS,
        "insufficient_funds",
        1,
    )


def test_an_unavailable_provider_postpones_with_growing_capped_waits() -> None:
    payment = new_payment()
    waits = []
    now = NOW
    for _ in range(5):
        run(payment, unavailable(AttemptOutcome.PROVIDER_ERROR, AttemptOutcome.TIMEOUT), now)
        assert payment.status is PaymentStatus.PENDING
        assert payment.next_attempt_at is not None
        waits.append((payment.next_attempt_at - now).total_seconds())
        now = payment.next_attempt_at
    assert waits == [1.0, 2.0, 4.0, 5.0, 5.0]
    events = payment.pull_events()
    assert all(isinstance(e, PaymentAuthorizationDeferred) for e in events)
    assert [e.attempts for e in events] == [2, 4, 6, 8, 10]  # type: ignore[attr-defined]
    assert len(payment.attempts) == 10


def test_refusals_of_the_open_circuit_are_attempts_but_not_calls() -> None:
    payment = new_payment()
    run(payment, unavailable(AttemptOutcome.CIRCUIT_OPEN))
    [event] = payment.pull_events()
    assert isinstance(event, PaymentAuthorizationDeferred)
    assert event.reason is DeferralReason.CIRCUIT_OPEN
    assert event.attempts == 0
    assert payment.attempts[0].outcome is AttemptOutcome.CIRCUIT_OPEN
    assert payment.calls_made == 0


def test_jitter_shortens_a_wait_by_at_most_its_fraction() -> None:
    assert SCHEDULE.delay(1, 0.0) == timedelta(seconds=1)
    assert SCHEDULE.delay(1, 0.999) > timedelta(seconds=0.5)
    assert SCHEDULE.delay(3, 0.5) == timedelta(seconds=3)
    with pytest.raises(ValueError, match="rand"):
        SCHEDULE.delay(1, 1.0)
    with pytest.raises(ValueError, match="postponements"):
        SCHEDULE.base_delay_s(0)
    with pytest.raises(ValueError, match="jitter"):
        RetrySchedule(jitter=2)
    with pytest.raises(ValueError, match="delays"):
        RetrySchedule(initial_delay_s=0)


def test_a_stale_worker_cannot_postpone_but_its_definitive_answer_counts() -> None:
    payment = new_payment()
    stale = payment.claim(uuid.uuid4(), NOW + LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    current = payment.claim(uuid.uuid4(), later + LEASE)  # the lease ran out: claimed again
    payment.record_authorization(
        unavailable(AttemptOutcome.TIMEOUT), token=stale.token, now=later, schedule=SCHEDULE, rand=0
    )
    assert payment.pull_events() == []
    assert payment.claim_token == current.token
    assert payment.postponements == 0
    payment.record_authorization(
        authorized(), token=stale.token, now=later, schedule=SCHEDULE, rand=0
    )
    assert payment.status is PaymentStatus.AUTHORIZED
    payment.record_authorization(
        authorized(), token=current.token, now=later, schedule=SCHEDULE, rand=0
    )
    assert [type(e) for e in payment.pull_events()] == [PaymentAuthorized]
    assert payment.claim_token is None
    assert len(payment.attempts) == 3


def test_cancelling_a_payment_that_never_reached_the_provider_ends_it_at_once() -> None:
    payment = new_payment()
    run(payment, unavailable(AttemptOutcome.CIRCUIT_OPEN))
    assert payment.request_cancel(uuid.uuid4(), NOW) is False
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.next_attempt_at is None


def test_a_call_in_flight_at_cancel_time_is_voided_when_it_authorises() -> None:
    payment = new_payment()
    claim = payment.claim(uuid.uuid4(), NOW + LEASE)
    cancel = uuid.uuid4()
    assert payment.request_cancel(cancel, NOW) is True
    assert payment.status is PaymentStatus.VOIDING
    assert not payment.due_at(NOW)  # the call in flight holds the lease
    payment.record_authorization(
        authorized("auth_late"), token=claim.token, now=NOW, schedule=SCHEDULE, rand=0
    )
    assert payment.status is PaymentStatus.VOIDING
    assert payment.provider_reference == "auth_late"
    assert payment.due_at(NOW)
    assert payment.pull_events() == []  # no payment.authorized for a cancelled order
    void = payment.claim(uuid.uuid4(), NOW + LEASE)
    payment.record_void(
        VoidResult("auth_late"), token=void.token, now=NOW, schedule=SCHEDULE, rand=0
    )
    assert payment.status is PaymentStatus.VOIDED
    [event] = payment.pull_events()
    assert isinstance(event, PaymentVoided)
    assert (event.provider_reference, event.causation_id) == ("auth_late", cancel)


def test_a_decline_in_flight_at_cancel_time_proves_nothing_is_held() -> None:
    payment = new_payment()
    claim = payment.claim(uuid.uuid4(), NOW + LEASE)
    payment.request_cancel(uuid.uuid4(), NOW)
    declined = Declined(FailureReason.DECLINED, "card_declined")
    payment.record_authorization(
        AuthorizationResult((call(AttemptOutcome.DECLINED, 201),), declined),
        token=claim.token,
        now=NOW,
        schedule=SCHEDULE,
        rand=0,
    )
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.pull_events() == []


def test_cancel_after_an_unknown_outcome_asks_the_provider_and_may_find_nothing() -> None:
    payment = new_payment()
    run(payment, unavailable(AttemptOutcome.TIMEOUT))
    payment.pull_events()
    assert payment.request_cancel(uuid.uuid4(), NOW) is True
    assert payment.status is PaymentStatus.VOIDING
    assert payment.due_at(NOW)  # at once, not at the postponed time
    claim = payment.claim(uuid.uuid4(), NOW + LEASE)
    payment.record_void(None, token=claim.token, now=NOW, schedule=SCHEDULE, rand=0)
    assert payment.status is PaymentStatus.VOIDING  # provider down: tried again later
    assert payment.next_attempt_at == NOW + timedelta(seconds=1)
    claim = payment.claim(uuid.uuid4(), NOW + LEASE)
    payment.record_void(VoidResult(None), token=claim.token, now=NOW, schedule=SCHEDULE, rand=0)
    assert payment.status is PaymentStatus.CANCELLED
    assert payment.pull_events() == []


def test_an_authorisation_arriving_after_the_cancel_ended_reopens_the_void() -> None:
    payment = new_payment()
    payment.request_cancel(uuid.uuid4(), NOW)
    assert payment.status is PaymentStatus.CANCELLED
    zombie = uuid.uuid4()  # a worker whose lease had run out
    payment.record_authorization(
        authorized("auth_z"), token=zombie, now=NOW, schedule=SCHEDULE, rand=0
    )
    assert payment.status is PaymentStatus.VOIDING
    assert payment.provider_reference == "auth_z"


def test_cancel_of_an_authorised_payment_voids_it_and_cancel_is_idempotent() -> None:
    payment = new_payment()
    run(payment, authorized("auth_1"))
    payment.pull_events()
    assert payment.request_cancel(uuid.uuid4(), NOW) is True
    assert payment.request_cancel(uuid.uuid4(), NOW) is False
    claim = payment.claim(uuid.uuid4(), NOW + LEASE)
    payment.record_void(VoidResult("auth_1"), token=claim.token, now=NOW, schedule=SCHEDULE, rand=0)
    payment.record_void(VoidResult("auth_1"), token=claim.token, now=NOW, schedule=SCHEDULE, rand=0)
    assert [type(e) for e in payment.pull_events()] == [PaymentVoided]
    assert payment.request_cancel(uuid.uuid4(), NOW) is False


def test_a_failed_payment_ignores_a_cancel() -> None:
    payment = new_payment()
    run(payment, AuthorizationResult((), Declined(FailureReason.DECLINED, None)))
    assert payment.request_cancel(uuid.uuid4(), NOW) is False
    assert payment.status is PaymentStatus.FAILED


def test_money_is_minor_units_of_an_iso_currency() -> None:
    with pytest.raises(ValueError, match="amount"):
        Money(-1, "EUR")
    with pytest.raises(ValueError, match="currency"):
        Money(1, "eur")
