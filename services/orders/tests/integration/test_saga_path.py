"""Outages delay, they do not cancel, on the real database and broker.

The shared broker is never stopped (other tests and engineers use it): the broker's health is a
port. Its real adapter is tried against a closed port and an unroutable address (blocked, within
its timeout) and against the real broker (a consumer group that keeps records waiting without
moving is blocked; one that moves, or has caught up, is not); the outbox probe against orders'
own table. Then the sweeper, with the port reporting the path down for far longer than the stock
step: no order is cancelled; past the hard bound, they are. Last, the worker process as
``build_worker`` wires it, pointed at a closed Kafka port, holds its orders until the bound.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orders.adapters.saga_path import KafkaSagaPath, SqlaOutboxStall
from orders.application.saga_path import SagaPathGuard
from orders.bootstrap import OrdersSettings, build_use_cases, build_worker
from orders.domain.values import Deadlines
from shared.clock import FrozenClock
from shared.db import create_engine
from shared.inbox.testing import wait_until
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import temporary_database

from .conftest import ALEMBIC
from .test_sweeper import place, row

pytestmark = pytest.mark.integration

# Far from the real clock and from the other sweeper tests' epochs.
EPOCH = datetime(2003, 1, 1, tzinfo=UTC)
DEADLINES = Deadlines(
    stock=timedelta(seconds=30),
    payment=timedelta(seconds=60),
    payment_max_wait=timedelta(seconds=600),
    compensation_retry=timedelta(seconds=60),
    stock_max_wait=timedelta(minutes=10),
)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed once the socket is


class Down:
    """The saga path's port, reporting the broker down."""

    async def blocked(self) -> str | None:
        return "Kafka did not answer orders-worker (KafkaConnectionError)"


# --- the real Kafka adapter ---


@pytest.mark.parametrize("address", ["closed", "unroutable"])
async def test_the_kafka_probe_reports_an_unreachable_broker_within_its_timeout(
    address: str,
) -> None:
    bootstrap = f"127.0.0.1:{closed_port()}" if address == "closed" else "10.255.255.1:9092"
    kafka = KafkaSettings(bootstrap_servers=bootstrap, request_timeout_s=1.0)
    probe = KafkaSagaPath(kafka, [("catalog", "orders.events")], timeout_s=1.5)
    try:
        started = time.monotonic()
        reason = await probe.probe_once()
        elapsed = time.monotonic() - started
        assert reason is not None
        assert reason.startswith("Kafka did not answer orders-worker")
        assert elapsed < 3.0
        assert await probe.probe_once() is not None  # and again: no client left half open
        # In the background, as the sweeper asks: never waiting, down until seen up.
        assert await probe.blocked() == "Kafka has not been probed yet"
        await wait_until(
            lambda: _reason_is_down(probe), timeout_s=5, message="the background probe ran"
        )
    finally:
        await probe.close()


async def _reason_is_down(probe: KafkaSagaPath) -> bool:
    reason = await probe.blocked()
    return reason is not None and reason.startswith("Kafka did not answer")


@pytest.fixture
async def producer(ordo_endpoints: Endpoints) -> AsyncIterator[AIOKafkaProducer]:
    producer = AIOKafkaProducer(bootstrap_servers=ordo_endpoints.kafka_bootstrap)
    await producer.start()
    yield producer
    await producer.stop()


async def _commit(bootstrap: str, group: str, tp: TopicPartition, offset: int) -> None:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([tp])
        await consumer.commit({tp: offset})
    finally:
        await consumer.stop()


async def test_the_kafka_probe_sees_a_group_that_keeps_records_waiting_without_moving(
    ordo_endpoints: Endpoints, new_topic, kafka_group: str, producer: AIOKafkaProducer
) -> None:
    bootstrap = ordo_endpoints.kafka_bootstrap
    topic = await new_topic(partitions=1)
    tp = TopicPartition(topic, 0)
    now = [1000.0]
    probe = KafkaSagaPath(
        KafkaSettings(bootstrap_servers=bootstrap),
        [(kafka_group, topic)],
        stall_s=10.0,
        monotonic=lambda: now[0],
    )
    try:
        assert await probe.probe_once() is None  # an empty topic: nothing waits
        for n in range(3):
            await producer.send_and_wait(topic, f"record {n}".encode(), partition=0)
        await _commit(bootstrap, kafka_group, tp, 1)
        assert await probe.probe_once() is None  # two wait: the stall starts now
        now[0] += 9.0
        assert await probe.probe_once() is None
        now[0] += 1.0
        reason = await probe.probe_once()
        assert reason is not None
        assert f"consumer group {kafka_group} has not moved on {topic}[0]" in reason
        assert "2 record(s) waiting" in reason
        await _commit(bootstrap, kafka_group, tp, 2)
        assert await probe.probe_once() is None  # it moved: a new stall would start from here
        await _commit(bootstrap, kafka_group, tp, 3)
        now[0] += 60.0
        assert await probe.probe_once() is None  # caught up: however long, nothing waits
    finally:
        await probe.close()


# --- the real outbox probe ---


@pytest.fixture
async def scratch_engine(ordo_endpoints: Endpoints) -> AsyncIterator[AsyncEngine]:
    """Orders' schema in a database of this test only: no other test's outbox rows."""
    async with temporary_database(ordo_endpoints, "ordo_orders_path") as database:
        await ALEMBIC.upgrade_head(database)
        engine = create_engine(database)
        yield engine
        await engine.dispose()


async def _outbox_row(engine: AsyncEngine, age_s: float) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (id, lane, topic, key, payload, headers, created_at)"
                " VALUES (:id, 0, 'orders.events', 'k', '{}', '{}',"
                " now() - make_interval(secs => :age))"
            ),
            {"id": uuid.uuid4().hex, "age": float(age_s)},
        )


async def test_the_outbox_probe_sees_a_relay_that_stopped_publishing(
    scratch_engine: AsyncEngine,
) -> None:
    probe = SqlaOutboxStall(scratch_engine, max_age_s=5.0, quorum=2)
    assert await probe.blocked() is None  # empty
    await _outbox_row(scratch_engine, 60)
    assert await probe.blocked() is None  # one old row is its own aggregate's problem
    await _outbox_row(scratch_engine, 30)
    reason = await probe.blocked()
    assert reason == "orders' relay has not published rows waiting for 30 s"
    async with scratch_engine.begin() as conn:
        await conn.execute(text("UPDATE outbox SET published_at = now()"))
    await _outbox_row(scratch_engine, 1)
    await _outbox_row(scratch_engine, 2)
    assert await probe.blocked() is None  # the relay keeps up


# --- the sweeper with the port reporting the path down ---


async def test_a_broker_down_for_longer_than_the_step_cancels_nothing_until_the_hard_bound(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    clock = FrozenClock(EPOCH)
    guard = SagaPathGuard(Down(), recovery=timedelta(seconds=30))
    orders = build_use_cases(sessions, clock=clock, deadlines=DEADLINES, saga_path=guard)
    placed = [await place(orders, org_id) for _ in range(5)]
    for _ in range(19):  # 9.5 minutes of outage, swept every 30 s: 19 stock steps
        clock.advance(DEADLINES.stock)
        await orders.sweep_deadlines(batch=50)
        for order in placed:
            assert await row(engine, order) == ("pending", None)
    async with engine.connect() as conn:
        deadlines = (
            await conn.execute(
                text("SELECT deadline_at FROM orders WHERE id = ANY(:ids)"),
                {"ids": [o.id for o in placed]},
            )
        ).scalars()
        assert all(d <= EPOCH + DEADLINES.stock_max_wait for d in deadlines)
    clock.set(EPOCH + DEADLINES.stock_max_wait)  # the hard bound: an outage or not
    assert await orders.sweep_deadlines(batch=50) == 5
    for order in placed:
        assert await row(engine, order) == ("cancelling", "stock_timeout")


async def test_the_worker_as_wired_holds_its_orders_while_kafka_is_unreachable(
    migrated: DatabaseSettings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    org_id: uuid.UUID,
) -> None:
    settings = OrdersSettings(
        environment="test",
        database=migrated,
        kafka=KafkaSettings(bootstrap_servers=f"127.0.0.1:{closed_port()}", request_timeout_s=1),
        stock_timeout_s=0.3,
        stock_max_wait_s=3.0,
        saga_path_recovery_s=0.0,
        saga_path_probe_timeout_s=1.0,
        sweep_interval_s=0.05,
    )
    orders = build_use_cases(sessions, deadlines=settings.deadlines())
    process = build_worker(settings)
    running = asyncio.create_task(process.worker.run())
    try:
        order = await place(orders, org_id)
        started = time.monotonic()
        await asyncio.sleep(1.5)  # five stock steps: held, since Kafka does not answer
        assert await row(engine, order) == ("pending", None)

        async def timed_out() -> bool:
            return await row(engine, order) == ("cancelling", "stock_timeout")

        await wait_until(timed_out, timeout_s=15, message="the hard bound cancels the order")
        assert time.monotonic() - started >= 2.5  # not before its 3 s bound (placed at 0)
    finally:
        process.worker.stop()
        await asyncio.wait_for(running, timeout=10)
        await process.close()
