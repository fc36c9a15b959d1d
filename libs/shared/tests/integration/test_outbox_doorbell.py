"""Waking a relay in another process: the post-commit doorbell and the in-transaction NOTIFY."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import SqlaUnitOfWork, create_engine, create_session_factory
from shared.observability.metrics import Metrics
from shared.outbox import (
    Outbox,
    OutboxMessage,
    OutboxRelay,
    PgNotifyDoorbell,
    RelayConfig,
    outbox_table,
    relay_producer_factory,
)
from shared.outbox.testing import drop_outbox, eventually, install_outbox, read_topic
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

# Polling so slow that only a ring can explain a quick publication.
SLOW_POLL = RelayConfig(poll_interval_s=30, rebalance_interval_s=0.2)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-doorbell")
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield outbox_table(MetaData(), name)
    await drop_outbox(engine, name)


@pytest.fixture
async def relay(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, table: Table
) -> AsyncIterator[OutboxRelay]:
    kafka = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)
    relay = OutboxRelay(
        database=ordo_database,
        producer_factory=relay_producer_factory(kafka, "t"),
        service="doorbell",
        table=table,
        config=SLOW_POLL,
        metrics=Metrics(CollectorRegistry()),
    )
    task = asyncio.create_task(relay.run())
    await eventually(lambda: len(relay.owned_lanes) == SLOW_POLL.lanes)
    await asyncio.sleep(0.3)  # let the first (empty) rounds go to sleep
    yield relay
    relay.stop()
    await asyncio.wait_for(task, 20)


def event(topic: str) -> OutboxMessage:
    return OutboxMessage(topic=topic, key=f"k-{uuid.uuid4()}", type="t.v1", payload={})


async def test_the_doorbell_wakes_a_relay_of_another_process_right_after_commit(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, relay, new_topic
) -> None:
    topic = await new_topic(partitions=1)
    doorbell = PgNotifyDoorbell(ordo_database, table)
    uow = SqlaUnitOfWork(
        create_session_factory(engine),
        outbox=Outbox(table, source="/t"),
        mapper=lambda e: e,
        doorbell=doorbell,
    )
    try:
        started = time.monotonic()
        async with uow:
            uow.publish(event(topic))
            await uow.commit()
        await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=1, timeout_s=10)
        assert time.monotonic() - started < 5  # not the 30 s poll
        assert doorbell.sent == 1
    finally:
        await doorbell.close()


async def test_rings_are_coalesced(ordo_database: DatabaseSettings, table) -> None:
    doorbell = PgNotifyDoorbell(ordo_database, table, min_interval_s=0.2)
    try:
        for _ in range(100):
            doorbell.ring()
            await asyncio.sleep(0.001)
        await eventually(lambda: doorbell.sent >= 1)
        await asyncio.sleep(0.5)
        assert 1 <= doorbell.sent <= 3  # the first at once, the rest folded together
    finally:
        await doorbell.close()


async def test_an_in_transaction_notify_also_wakes_the_relay(
    ordo_endpoints: Endpoints, engine, table, relay, new_topic
) -> None:
    topic = await new_topic(partitions=1)
    started = time.monotonic()
    async with engine.begin() as conn:
        await Outbox(table, source="/t", notify=True).add(conn, event(topic))
    await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=1, timeout_s=10)
    assert time.monotonic() - started < 5
