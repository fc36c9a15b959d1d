"""At most one authorisation per order, ever: concurrent duplicate requests, a request racing a
cancel, two workers sharing the queue, and two workers whose leases let them collide (then only
the provider's idempotency key stands between the order and a second authorisation)."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.worker import PaymentWorker
from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import bootstrap_worker, unit_of_work_factory
from payments.domain.values import Money
from shared.inbox.testing import wait_until
from shared.observability.metrics import Metrics
from shared.outbox import RelayWakeup
from shared.settings import DatabaseSettings

from .conftest import (
    Provider,
    fast_provider_settings,
    fast_settings,
    outbox_types,
    provider_adapter,
    running_worker,
)

pytestmark = pytest.mark.integration

AUTHORIZED = "ordo.payments.payment.authorized.v1"
DEFERRED = "ordo.payments.payment.authorization_deferred.v1"
ORDERS = 40


def ask(org_id: uuid.UUID, order_id: uuid.UUID) -> RequestPaymentInput:
    return RequestPaymentInput(org_id, order_id, Money(1000, "EUR"), uuid.uuid4())


async def statuses(engine: AsyncEngine, orders: list[uuid.UUID]) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT status, count(*) FROM payments WHERE order_id = ANY(:orders) "
                "GROUP BY status"
            ),
            {"orders": orders},
        )
        return {row[0]: row[1] for row in rows}


async def test_concurrent_duplicate_requests_make_one_payment(
    payments: PaymentsUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    order = uuid.uuid4()
    results = await asyncio.gather(
        *(payments.request_payment(ask(org_id, order)) for _ in range(20))
    )
    ids = {r.id for r in results if r is not None}
    assert len(ids) == 1
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM payments WHERE order_id = :o"), {"o": order}
        )
    assert count == 1


async def test_a_request_racing_a_cancel_never_leaves_a_live_payment(
    payments: PaymentsUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    orders = [uuid.uuid4() for _ in range(20)]
    calls = []
    for order in orders:
        pair = [
            payments.request_payment(ask(org_id, order)),
            payments.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4())),
        ]
        random.shuffle(pair)
        calls.extend(pair)
    await asyncio.gather(*calls)
    # Whichever came first, the order is cancelled: no payment is left to authorise.
    assert set(await statuses(engine, orders)) <= {"cancelled"}
    async with engine.connect() as conn:
        due = await conn.scalar(
            text(
                "SELECT count(*) FROM payments WHERE order_id = ANY(:o) "
                "AND next_attempt_at IS NOT NULL"
            ),
            {"o": orders},
        )
    assert due == 0


async def test_two_workers_share_the_queue_without_calling_twice(
    payments: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    await provider.behave(latency_ms=20, jitter_ms=10)
    orders = [uuid.uuid4() for _ in range(ORDERS)]
    # A call budget well inside the lease: on a loaded machine the default 0.3 s budget made
    # the adapter retry slow calls (a legitimate replay), which is not what this test is about.
    settings = fast_settings(migrated, provider.url, call_timeout_s=2.0)
    # A lease far longer than any call, however loaded the machine: a lease running out while
    # its call is in flight lets the other worker claim it (a legitimate replay, the subject of
    # the next test), which is not what this one is about.
    settings = settings.model_copy(
        update={"worker": settings.worker.model_copy(update={"lease_s": 60.0})}
    )
    async with (
        running_worker(settings, Metrics()) as first,
        running_worker(settings, Metrics()) as second,
    ):
        await asyncio.gather(*(payments.request_payment(ask(org_id, o)) for o in orders))

        async def all_authorised() -> bool:
            return (await statuses(engine, orders)).get("authorized") == ORDERS

        await wait_until(all_authorised, timeout_s=60, message="all authorised")
        assert first.runs + second.runs == ORDERS
    for order in orders:
        assert len(await provider.authorizations(str(order))) == 1
        assert await outbox_types(engine, order) == [AUTHORIZED]
    stats = await provider.stats()
    assert stats["outcomes"]["authorized"] == ORDERS
    assert stats["outcomes"]["replayed"] == 0  # claims kept the workers apart


async def test_colliding_workers_still_authorise_once_thanks_to_the_key(
    payments: PaymentsUseCases,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    # A lease far shorter than a call: every round re-claims the payments still in flight, in
    # this worker and in the other one, so the same payment is sent several times at once.
    await provider.behave(latency_ms=80, jitter_ms=40)
    orders = [uuid.uuid4() for _ in range(ORDERS)]
    settings = fast_provider_settings(provider.url, call_timeout_s=2.0)
    async with (
        provider_adapter(settings, Metrics()) as adapter_a,
        provider_adapter(settings, Metrics()) as adapter_b,
    ):
        workers = [
            PaymentWorker(
                bootstrap_worker(
                    uow=unit_of_work_factory(sessions),
                    provider=adapter,
                    lease=timedelta(milliseconds=1),
                ),
                wakeup=RelayWakeup(),
                concurrency=16,
                poll_interval_s=0.02,
                metrics=Metrics(),
            )
            for adapter in (adapter_a, adapter_b)
        ]
        tasks = [asyncio.create_task(w.run()) for w in workers]
        try:
            await asyncio.gather(*(payments.request_payment(ask(org_id, o)) for o in orders))

            async def all_authorised() -> bool:
                return (await statuses(engine, orders)).get("authorized") == ORDERS

            await wait_until(all_authorised, timeout_s=30, message="all authorised")
        finally:
            for worker in workers:
                worker.stop()
            await asyncio.gather(*tasks)
    stats = await provider.stats()
    assert stats["outcomes"]["replayed"] > 0  # the collisions did happen
    assert stats["outcomes"]["authorized"] == ORDERS
    for order in orders:
        assert len(await provider.authorizations(str(order))) == 1
        published = await outbox_types(engine, order)
        # Exactly one authorisation published, last. On a starved machine a call may also time
        # out and be deferred first (the same key authorises it later): never a second one.
        assert (published.count(AUTHORIZED), published[-1]) == (1, AUTHORIZED)
        assert set(published) <= {AUTHORIZED, DEFERRED}
