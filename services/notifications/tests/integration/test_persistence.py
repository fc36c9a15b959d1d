"""The SQL behind the worker and the retention purge, on the real database: claims skip rows
other transactions hold, leases, and purges that keep what must be kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import SendResult, WebhookRequest
from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.bootstrap import bootstrap, unit_of_work_factory
from shared.clock import FrozenClock, SystemClock

from .conftest import create_endpoint, deliveries_of, principal_of, schedule_placed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quiet_deliveries")]


class Accepting:
    async def send(self, request: WebhookRequest) -> SendResult:
        return SendResult(200, None, 1)


def use_cases_at(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock | SystemClock
) -> NotificationsUseCases:
    return bootstrap(
        uow=unit_of_work_factory(sessions),
        sender=Accepting(),
        clock=clock,
        endpoint_rules=EndpointRules(),
        delivery_rules=DeliveryRules(lease=timedelta(seconds=30)),
    )


async def test_a_claim_skips_rows_another_transaction_holds_without_waiting(
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    notifications: NotificationsUseCases,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, _ = await create_endpoint(notifications, org_id, "https://a.example.com/")
    await schedule_placed(notifications, org_id, count=3)
    held, *others = [d["id"] for d in await deliveries_of(engine, endpoint_id)]
    async with engine.connect() as other_worker:
        await other_worker.execute(
            text("SELECT id FROM webhook_deliveries WHERE id = :d FOR UPDATE"), {"d": held}
        )
        claimed = await asyncio.wait_for(
            notifications.claim_due_deliveries(limit=10, per_endpoint=10), timeout=5
        )
        await other_worker.rollback()
    mine = {c.delivery_id for c in claimed if c.endpoint_id == endpoint_id}
    assert mine == set(others)
    leased = {d["id"]: d for d in await deliveries_of(engine, endpoint_id)}
    for delivery_id in mine:
        assert leased[delivery_id]["lease_token"] is not None
        assert leased[delivery_id]["status"] == "pending"  # reserved, not yet attempted
    assert leased[held]["lease_token"] is None
    again = await notifications.claim_due_deliveries(limit=10, per_endpoint=10)
    assert {c.delivery_id for c in again if c.endpoint_id == endpoint_id} == {held}


async def test_an_expired_lease_is_claimed_again_and_the_old_holder_cannot_record(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    clock = FrozenClock()
    use_cases = use_cases_at(sessions, clock)
    endpoint_id, _ = await create_endpoint(use_cases, org_id, "https://a.example.com/")
    await schedule_placed(use_cases, org_id)
    [first] = [
        c
        for c in await use_cases.claim_due_deliveries(limit=50, per_endpoint=50)
        if c.endpoint_id == endpoint_id
    ]
    clock.advance(31)
    [second] = [
        c
        for c in await use_cases.claim_due_deliveries(limit=50, per_endpoint=50)
        if c.endpoint_id == endpoint_id
    ]
    assert second.delivery_id == first.delivery_id
    assert second.lease != first.lease
    assert (await use_cases.attempt_delivery(first)).status is None
    assert (await use_cases.attempt_delivery(second)).status == "succeeded"
    [delivery] = await deliveries_of(engine, endpoint_id)
    assert (delivery["attempt_count"], delivery["lease_token"]) == (1, None)


async def test_retention_purges_old_finished_deliveries_and_deleted_endpoints_only(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    now = SystemClock()
    use_cases = use_cases_at(sessions, now)
    finished, _ = await create_endpoint(use_cases, org_id, "https://done.example.com/")
    await schedule_placed(use_cases, org_id)
    for claimed in await use_cases.claim_due_deliveries(limit=50, per_endpoint=50):
        if claimed.org_id == org_id:
            await use_cases.attempt_delivery(claimed)
    open_one, _ = await create_endpoint(use_cases, org_id, "https://open.example.com/")
    await schedule_placed(use_cases, org_id)  # both endpoints: one more each, still pending
    empty, _ = await create_endpoint(
        use_cases, org_id, "https://empty.example.com/", ["payment.failed"]
    )
    admin = principal_of(org_id)
    await use_cases.delete_webhook_endpoint(admin, org_id=org_id, endpoint_id=empty)

    later = FrozenClock(now.now() + timedelta(days=31))
    report = await use_cases_at(sessions, later).purge_expired_records()
    assert report.deliveries >= 1
    assert report.endpoints >= 1
    done = await deliveries_of(engine, finished)
    assert [d["status"] for d in done] == ["pending"]  # the finished one went, the open one stays
    assert [d["status"] for d in await deliveries_of(engine, open_one)] == ["pending"]
    async with engine.connect() as conn:
        left = await conn.scalar(
            text("SELECT count(*) FROM webhook_endpoints WHERE org_id = :o"), {"o": org_id}
        )
    assert left == 2  # the deleted endpoint without deliveries is gone
