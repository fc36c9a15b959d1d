"""Money is released, visibly, on PostgreSQL against the REAL fake provider.

Cancelled orders' authorisations are voided even when the worker's processing is killed in the
middle of voiding them, twice (in-process: its loop and every payment task in flight cancelled at
once, as a kill -9 would stop them, leases left behind), while cancellations keep arriving and the
provider answers slowly and fails now and then. Restarted workers void what the dead ones left
once their leases end; the provider's final state holds no authorisation for any cancelled order.
The gauges of payments still voiding are measured by the worker itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.persistence.wakeup import worker_doorbell
from payments.adapters.worker import PaymentWorker
from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import build_use_cases, build_worker
from payments.domain.values import Money
from payments.settings import PaymentsSettings, WorkerSettings
from shared.inbox.testing import wait_until
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings

from .conftest import Provider, fast_settings, running_worker

pytestmark = pytest.mark.integration

ORDERS = 24


@pytest.fixture
async def saga(
    migrated: DatabaseSettings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[PaymentsUseCases]:
    """The consumer's use cases, ringing the worker's doorbell (NOTIFY) after each commit."""
    bell = worker_doorbell(migrated, application_name="payments-tests-released")
    yield build_use_cases(sessions, worker=bell)
    await bell.close()


def slow_and_flaky(settings: PaymentsSettings) -> PaymentsSettings:
    """Few payments at a time (voids stay in flight a while), a short lease, fast measuring."""
    return settings.model_copy(
        update={
            "worker": WorkerSettings(
                concurrency=4, poll_interval_s=0.2, lease_s=3.0, measure_interval_s=0.1
            )
        }
    )


async def statuses(engine: AsyncEngine, orders: list[uuid.UUID]) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT status, count(*) FROM payments WHERE order_id = ANY(:o) GROUP BY status"),
            {"o": orders},
        )
        return {str(row[0]): int(row[1]) for row in rows}


@contextlib.asynccontextmanager
async def killable(settings: PaymentsSettings, metrics: Metrics) -> AsyncIterator[PaymentWorker]:
    """A worker as ``build_worker`` wires it, killed (not stopped) when the block ends."""
    worker, _health = build_worker(settings, metrics=metrics)
    loop = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        # What a kill leaves: no payment in flight records its outcome, leases stay taken.
        in_flight = [t for t in asyncio.all_tasks() if t.get_name().startswith("payment-")]
        for task in in_flight:
            task.cancel()
        loop.cancel()
        await asyncio.gather(loop, *in_flight, return_exceptions=True)


async def test_voids_survive_killed_workers_and_the_provider_holds_nothing_for_cancelled_orders(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    orders = [uuid.uuid4() for _ in range(ORDERS)]
    settings = fast_settings(migrated, provider.url, call_timeout_s=1.0, retry_budget_s=0.8)
    async with running_worker(settings, metrics):
        for order in orders:
            await saga.request_payment(
                RequestPaymentInput(org_id, order, Money(1500, "EUR"), uuid.uuid4())
            )

        async def all_authorised() -> bool:
            return await statuses(engine, orders) == {"authorized": ORDERS}

        await wait_until(all_authorised, timeout_s=30, message="every payment authorised")

    # Slow, and failing before or after doing the work now and then: voids must be retried.
    await provider.behave(latency_ms=150, error_rate=0.15, error_after_commit_rate=0.15)
    first, second = orders[: ORDERS // 2], orders[ORDERS // 2 :]
    for order in first:
        await saga.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    killed_mid_void = slow_and_flaky(settings)

    async def some_voided() -> bool:
        return (await statuses(engine, orders)).get("voided", 0) >= 2

    async with killable(killed_mid_void, metrics):
        await wait_until(some_voided, timeout_s=30, message="the first voids")
        for order in second:  # cancellations keep arriving while it voids
            await saga.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
    after_first_kill = await statuses(engine, orders)
    assert after_first_kill.get("voiding", 0) > 0, after_first_kill  # killed mid-way

    async def more_voided() -> bool:
        return (await statuses(engine, orders)).get("voided", 0) > after_first_kill["voided"]

    async with killable(killed_mid_void, metrics):  # killed again, as soon as it progressed
        await wait_until(more_voided, timeout_s=30, message="voids after the first restart")
    assert (await statuses(engine, orders)).get("voiding", 0) > 0

    async def all_voided() -> bool:
        return await statuses(engine, orders) == {"voided": ORDERS}

    async with running_worker(killed_mid_void, metrics) as survivor:
        await wait_until(all_voided, timeout_s=60, message="every authorisation voided")
        await survivor.measure_held()
    await provider.behave()  # well-behaved again, to read its state
    # The provider's final state: nothing held for any cancelled order, one authorisation each.
    for order in orders:
        found = await provider.authorizations(str(order))
        assert [a["status"] for a in found] == ["voided"], (order, found)
    assert metrics.registry.get_sample_value("payments_held_for_cancelled_orders") == 0
    assert (
        metrics.registry.get_sample_value("payments_held_for_cancelled_orders_oldest_age_seconds")
        == 0
    )


async def test_the_worker_measures_what_is_still_held_and_since_when(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    settings = slow_and_flaky(fast_settings(migrated, provider.url))
    async with running_worker(settings, metrics):
        await saga.request_payment(
            RequestPaymentInput(org_id, order, Money(900, "EUR"), uuid.uuid4())
        )

        async def authorised() -> bool:
            return await statuses(engine, [order]) == {"authorized": 1}

        await wait_until(authorised, timeout_s=20, message="authorised")
        await provider.outage(duration_s=30)  # the provider cannot void for now
        await saga.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))

        async def measured_held() -> bool:
            age = metrics.registry.get_sample_value(
                "payments_held_for_cancelled_orders_oldest_age_seconds"
            )
            held = metrics.registry.get_sample_value("payments_held_for_cancelled_orders")
            return held == 1 and age is not None and age >= 1.0

        await wait_until(measured_held, timeout_s=20, message="held and ageing")
        await provider.end_outages()

        async def released() -> bool:
            return metrics.registry.get_sample_value("payments_held_for_cancelled_orders") == 0

        await wait_until(released, timeout_s=30, message="voided and measured")
    [held] = await provider.authorizations(str(order))
    assert held["status"] == "voided"
    jobs = metrics.registry.get_sample_value(
        "jobs_total", {"job": "payments.measure_held_authorizations", "outcome": "succeeded"}
    )
    assert jobs is not None
    assert jobs >= 2
