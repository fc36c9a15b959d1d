"""The use cases through bootstrap on fakes: request, claim, authorise, postpone, cancel, void."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from payments.application.errors import PaymentNotFoundError
from payments.application.facade import PaymentsUseCases, WorkerUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.domain.events import (
    PaymentAuthorizationDeferred,
    PaymentAuthorized,
    PaymentFailed,
    PaymentVoided,
)
from payments.domain.payment import Payment
from payments.domain.values import FailureReason, Money, PaymentStatus
from shared.auth.principal import Role
from shared.clock import FrozenClock
from shared.errors import PermissionDeniedError

from .conftest import LEASE, FakePaymentProvider, Store, principal_of


def request(org_id: uuid.UUID, order_id: uuid.UUID, amount: int = 4997) -> RequestPaymentInput:
    return RequestPaymentInput(org_id, order_id, Money(amount, "EUR"), uuid.uuid4())


async def run_due(worker: WorkerUseCases) -> list[Payment | None]:
    """One worker round: claim everything due and run it to its recorded outcome."""
    work = await worker.claim_due_payments(10)
    done = []
    for claim in work.claims:
        if claim.status is PaymentStatus.VOIDING:
            done.append(await worker.void_payment(claim))
        else:
            done.append(await worker.authorize_payment(claim))
    return done


async def test_a_request_records_one_due_payment_and_wakes_the_worker(
    payments: PaymentsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    first = await payments.request_payment(request(org_id, order))
    again = await payments.request_payment(request(org_id, order))
    assert first is not None
    assert again is not None
    assert again.id == first.id
    assert len(store.payments) == 1
    assert store.wakes == 1
    assert store.events == []  # nothing is published until the provider answered


async def test_the_worker_authorises_with_the_payment_id_as_key_once(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    payment = await payments.request_payment(request(org_id, order))
    assert payment is not None
    [done] = await run_due(worker)
    assert done is not None
    assert done.status is PaymentStatus.AUTHORIZED
    [sent] = provider.requests
    assert (sent.idempotency_key, sent.reference) == (str(payment.id), str(order))
    assert sent.amount == Money(4997, "EUR")
    [event] = store.events
    assert isinstance(event, PaymentAuthorized)
    assert event.provider_reference == done.provider_reference
    assert await run_due(worker) == []  # nothing due any more


async def test_a_decline_publishes_payment_failed(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    provider.script = ["insufficient"]
    await payments.request_payment(request(org_id, uuid.uuid4()))
    [done] = await run_due(worker)
    assert done is not None
    assert done.status is PaymentStatus.FAILED
    [event] = store.events
    assert isinstance(event, PaymentFailed)
    assert event.reason is FailureReason.INSUFFICIENT_FUNDS


async def test_an_unavailable_provider_postpones_until_due_then_authorises(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    provider.script = ["down", "open"]
    await payments.request_payment(request(org_id, uuid.uuid4()))
    [first] = await run_due(worker)
    assert first is not None
    assert first.status is PaymentStatus.PENDING
    assert first.next_attempt_at == clock.now() + timedelta(seconds=1)
    clock.advance(0.5)
    assert await run_due(worker) == []  # not due yet
    work = await worker.claim_due_payments(10)
    assert work.next_due_at == first.next_attempt_at
    clock.advance(0.5)
    [second] = await run_due(worker)
    assert second is not None
    assert second.next_attempt_at == clock.now() + timedelta(seconds=2)
    clock.advance(2)
    [third] = await run_due(worker)
    assert third is not None
    assert third.status is PaymentStatus.AUTHORIZED
    kinds = [type(e) for e in store.events]
    assert kinds == [PaymentAuthorizationDeferred, PaymentAuthorizationDeferred, PaymentAuthorized]
    assert [e.attempts for e in store.events] == [2, 2, 3]  # type: ignore[attr-defined]
    assert len(third.attempts) == 4


async def test_a_claim_holds_the_payment_until_its_lease_ends(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    await payments.request_payment(request(org_id, uuid.uuid4()))
    first = await worker.claim_due_payments(10)
    assert len(first.claims) == 1
    assert (await worker.claim_due_payments(10)).claims == []  # another worker gets nothing
    clock.advance(LEASE + timedelta(seconds=1))  # the first worker died
    [again] = (await worker.claim_due_payments(10)).claims
    await worker.authorize_payment(again)
    await worker.authorize_payment(first.claims[0])  # the first one comes back after all
    assert len(provider.requests) == 2
    assert len(provider.held) == 1  # one key: the provider authorised once
    assert [type(e) for e in store.events] == [PaymentAuthorized]


async def test_a_cancel_before_the_request_leaves_a_tombstone(
    payments: PaymentsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    assert await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4())) is None
    assert await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4())) is None
    assert await payments.request_payment(request(org_id, order)) is None
    assert store.payments == {}
    assert list(store.tombstones) == [order]


async def test_cancel_of_an_untried_payment_needs_no_provider(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    cancelled = await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    assert cancelled is not None
    assert cancelled.status is PaymentStatus.CANCELLED
    assert await run_due(worker) == []
    assert provider.requests == []
    assert store.events == []


async def test_cancel_of_an_authorised_payment_voids_it(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    await run_due(worker)
    wakes = store.wakes
    cancel = uuid.uuid4()
    await payments.cancel_payment(CancelPaymentInput(org_id, order, cancel))
    assert store.wakes == wakes + 1
    [voided] = await run_due(worker)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED
    assert provider.voids == [voided.provider_reference]
    assert [h.status for h in provider.held] == ["voided"]
    event = store.events[-1]
    assert isinstance(event, PaymentVoided)
    assert event.causation_id == cancel


async def test_a_lost_answer_is_found_and_voided_after_a_cancel(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    provider.script = ["lost"]  # authorised at the provider, but we saw a timeout
    await payments.request_payment(request(org_id, order))
    [postponed] = await run_due(worker)
    assert postponed is not None
    assert postponed.status is PaymentStatus.PENDING
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    provider.void_down = True
    [waiting] = await run_due(worker)  # the provider cannot answer the lookup: later
    assert waiting is not None
    assert waiting.status is PaymentStatus.VOIDING
    provider.void_down = False
    clock.advance(1)
    [voided] = await run_due(worker)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED
    assert [h.status for h in provider.held] == ["voided"]
    assert isinstance(store.events[-1], PaymentVoided)


async def test_a_cancel_during_the_call_voids_what_the_call_obtained(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    [claim] = (await worker.claim_due_payments(10)).claims
    result = await worker.authorize_payment.call(claim)  # in flight...
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    recorded = await worker.authorize_payment.record(claim, result)
    assert recorded is not None
    assert recorded.status is PaymentStatus.VOIDING
    [voided] = await run_due(worker)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED
    assert [type(e) for e in store.events] == [PaymentVoided]


@pytest.mark.parametrize("role", list(Role))
async def test_every_role_reads_its_orgs_payment(
    payments: PaymentsUseCases, org_id: uuid.UUID, role: Role
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    found = await payments.get_payment(principal_of(org_id, role), org_id=org_id, order_id=order)
    assert found.order_id == order


async def test_another_orgs_payment_and_a_missing_one_are_not_found(
    payments: PaymentsUseCases, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    stranger = principal_of(uuid.uuid4(), Role.OWNER)
    with pytest.raises(PaymentNotFoundError):
        await payments.get_payment(stranger, org_id=stranger.org_id, order_id=order)
    with pytest.raises(PaymentNotFoundError):
        await payments.get_payment(stranger, org_id=org_id, order_id=order)
    with pytest.raises(PaymentNotFoundError):
        await payments.get_payment(principal_of(org_id), org_id=org_id, order_id=uuid.uuid4())


async def test_a_caller_without_a_role_is_denied(
    payments: PaymentsUseCases, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    roleless = principal_of(org_id)
    roleless = type(roleless)(user_id=roleless.user_id, org_id=org_id, roles=frozenset())
    with pytest.raises(PermissionDeniedError):
        await payments.get_payment(roleless, org_id=org_id, order_id=order)
