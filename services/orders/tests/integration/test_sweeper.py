"""The deadline sweeper on the real database, and the worker process's loop."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orders.application.facade import OrdersUseCases
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.bootstrap import OrdersSettings, build_use_cases, build_worker
from orders.domain.model import Order
from orders.domain.values import OrderLine
from shared.clock import FrozenClock
from shared.inbox.testing import wait_until
from shared.settings import DatabaseSettings

from .conftest import outbox_rows, principal_of

pytestmark = pytest.mark.integration

# Far from the real clock: orders of other tests in this database are never due at these times,
# nor are these orders due for a worker on the real clock.
EPOCH = datetime(2001, 1, 1, tzinfo=UTC)


async def place(orders: OrdersUseCases, org_id: uuid.UUID) -> Order:
    result = await orders.place_order(
        principal_of(org_id),
        PlaceOrderInput(org_id, "EUR", [OrderLine("T-1", 1)], str(uuid.uuid4())),
    )
    assert result.order is not None
    return result.order


async def row(engine: AsyncEngine, order: Order) -> tuple[str, str | None]:
    async with engine.connect() as conn:
        found = (
            await conn.execute(
                text("SELECT status, status_reason FROM orders WHERE id = :i"), {"i": order.id}
            )
        ).one()
    return found[0], found[1]


async def test_the_sweeper_cancels_timed_out_orders_and_skips_locked_ones(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    clock = FrozenClock(EPOCH)
    orders = build_use_cases(sessions, clock=clock)
    due = [await place(orders, org_id) for _ in range(3)]
    clock.advance(timedelta(seconds=29))
    fresh = await place(orders, org_id)
    clock.advance(timedelta(seconds=1))  # 30 s after the first three: their stock step is over
    async with engine.connect() as holder:
        transaction = await holder.begin()
        await holder.execute(
            text("SELECT 1 FROM orders WHERE id = :i FOR UPDATE"), {"i": due[0].id}
        )
        swept = await asyncio.wait_for(orders.sweep_deadlines(batch=50), timeout=5)
        assert swept == 2  # the locked one is left for the next sweep, without waiting for it
        await transaction.rollback()
    assert await row(engine, due[0]) == ("pending", None)
    assert await orders.sweep_deadlines(batch=50) == 1
    for order in due:
        assert await row(engine, order) == ("cancelling", "stock_timeout")
        kinds, payload = (await outbox_rows(engine, order.id))[-1]
        assert kinds == "ordo.orders.order.cancel_requested.v1"
        assert (payload["reason"], payload["requested_by"], payload["order_version"]) == (
            "stock_timeout",
            None,
            2,
        )
    assert await row(engine, fresh) == ("pending", None)


async def test_the_worker_process_times_out_orders_on_its_own(
    migrated: DatabaseSettings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    org_id: uuid.UUID,
) -> None:
    settings = OrdersSettings(
        environment="test",
        database=migrated,
        stock_timeout_s=0.3,
        sweep_interval_s=0.05,
        # Other tests' unpublished outbox rows (no relay runs here) would hold the sweeper:
        # test_saga_path.py covers the guard.
        saga_path_guard=False,
    )
    orders = build_use_cases(sessions, deadlines=settings.deadlines())
    process = build_worker(settings)
    running = asyncio.create_task(process.worker.run())
    try:
        order = await place(orders, org_id)

        async def timed_out() -> bool:
            return await row(engine, order) == ("cancelling", "stock_timeout")

        await wait_until(timed_out, timeout_s=10, message="stock step timed out")
    finally:
        process.worker.stop()
        await asyncio.wait_for(running, timeout=10)
        await process.close()
    assert process.worker.rounds >= 1
