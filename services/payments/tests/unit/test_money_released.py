"""Money is released, visibly: a cancelled order's authorisation is voided, retried until the
provider answers (however long, from any worker, whatever run dies between the call and the
record); ``order.cancelled`` voids it too when the cancel request never took effect; and the
payments still voiding, with the age of the oldest, are measured for the gauges."""

from __future__ import annotations

import uuid
from datetime import timedelta

from payments.application.facade import PaymentsUseCases, WorkerUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.domain.events import PaymentVoided
from payments.domain.values import Money, PaymentStatus
from shared.clock import FrozenClock

from .conftest import LEASE, FakePaymentProvider, Store
from .test_use_cases import run_due


def request(org_id: uuid.UUID, order_id: uuid.UUID) -> RequestPaymentInput:
    return RequestPaymentInput(org_id, order_id, Money(1200, "EUR"), uuid.uuid4())


async def authorised(
    payments: PaymentsUseCases, worker: WorkerUseCases, org_id: uuid.UUID
) -> uuid.UUID:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    [payment] = await run_due(worker)
    assert payment is not None
    assert payment.status is PaymentStatus.AUTHORIZED
    return order


async def test_a_void_is_retried_until_the_provider_answers_and_measured_meanwhile(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    order = await authorised(payments, worker, org_id)
    assert (await worker.measure_held_authorizations()).count == 0
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    cancelled_at = clock.now()
    provider.void_down = True
    for _ in range(12):  # a long outage: postponed again and again, never given up
        clock.advance(timedelta(minutes=1))
        [waiting] = await run_due(worker)
        assert waiting is not None
        assert waiting.status is PaymentStatus.VOIDING
        assert waiting.voiding_since == cancelled_at
    held = await worker.measure_held_authorizations()
    assert held.count == 1
    assert held.oldest_age_s == 12 * 60
    assert [h.status for h in provider.held] == ["authorized"]
    provider.void_down = False
    clock.advance(timedelta(minutes=1))
    [voided] = await run_due(worker)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED
    assert [h.status for h in provider.held] == ["voided"]
    assert (await worker.measure_held_authorizations()).count == 0
    assert (await worker.measure_held_authorizations()).oldest_age_s == 0


async def test_a_run_that_dies_between_void_and_record_is_run_again_after_its_lease(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    order = await authorised(payments, worker, org_id)
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    [claim] = (await worker.claim_due_payments(10)).claims
    await worker.void_payment.call(claim)  # voided at the provider, then the worker dies
    assert (await worker.claim_due_payments(10)).claims == []  # its lease still runs
    clock.advance(LEASE)
    [again] = (await worker.claim_due_payments(10)).claims  # another worker, later
    voided = await worker.void_payment(again)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED  # the provider's void is idempotent
    assert [type(e) for e in store.events][-1] is PaymentVoided
    assert [h.status for h in provider.held] == ["voided"]


async def test_order_cancelled_voids_an_authorisation_whose_cancel_request_was_lost(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    provider: FakePaymentProvider,
    store: Store,
    org_id: uuid.UUID,
) -> None:
    order = await authorised(payments, worker, org_id)
    # order.cancel_requested never took effect (dead-lettered); order.cancelled follows it.
    await payments.cancel_payment(
        CancelPaymentInput(org_id, order, uuid.uuid4(), order_closed=True)
    )
    [voided] = await run_due(worker)
    assert voided is not None
    assert voided.status is PaymentStatus.VOIDED
    assert [h.status for h in provider.held] == ["voided"]
    # Repeated (the normal case: the cancel request did its work first), it changes nothing.
    await payments.cancel_payment(
        CancelPaymentInput(org_id, order, uuid.uuid4(), order_closed=True)
    )
    assert await run_due(worker) == []


async def test_order_cancelled_without_a_payment_leaves_no_tombstone(
    payments: PaymentsUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    closed = CancelPaymentInput(org_id, order, uuid.uuid4(), order_closed=True)
    assert await payments.cancel_payment(closed) is None
    assert store.tombstones == {}  # nothing can follow an order's last event
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    assert set(store.tombstones) == {order}


async def test_the_first_voiding_is_remembered_when_a_late_authorisation_voids_again(
    payments: PaymentsUseCases,
    worker: WorkerUseCases,
    store: Store,
    clock: FrozenClock,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await payments.request_payment(request(org_id, order))
    [claim] = (await worker.claim_due_payments(10)).claims
    result = await worker.authorize_payment.call(claim)  # in flight...
    await payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    first = clock.now()
    clock.advance(5)
    recorded = await worker.authorize_payment.record(claim, result)
    assert recorded is not None
    assert recorded.status is PaymentStatus.VOIDING
    assert recorded.voiding_since == first
    assert (await worker.measure_held_authorizations()).oldest_age_s == 5
