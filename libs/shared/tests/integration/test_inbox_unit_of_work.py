"""Through a unit of work, the inbox claim and the handler's outbox rows commit together."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import SqlaUnitOfWork, create_engine, create_session_factory
from shared.errors import ConflictError
from shared.inbox import InboxEvent, RedeliveryPolicy
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.observability.metrics import Metrics
from shared.outbox import Outbox, OutboxMessage, outbox_table
from shared.outbox.testing import drop_outbox, install_outbox
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

EVENT = "test.order_placed.v1"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="inbox-uow-tests")
    await apply_inbox_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def outbox(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    name = f"outbox_{uuid.uuid4().hex[:8]}"
    await install_outbox(engine, name)
    yield Outbox(outbox_table(MetaData(), name), source="/ordo/tests", notify=False)
    await drop_outbox(engine, name)


def no_aggregate_events(event: object) -> OutboxMessage:
    raise AssertionError(f"no aggregate records events in this test: {event!r}")


async def test_outbox_rows_written_by_a_handler_commit_with_the_claim_or_not_at_all(
    engine: AsyncEngine, outbox: Outbox, ordo_endpoints: Endpoints, topic: str, kafka_group: str
) -> None:
    kafka = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)
    sessions = create_session_factory(engine)

    async def on_order_placed(event: InboxEvent, uow: SqlaUnitOfWork) -> None:
        uow.publish(
            OutboxMessage(
                topic="test.stock.events",
                key=(event.key or b"").decode(),
                type="test.stock_reserved.v1",
                payload={"order_event": event.id},
            )
        )
        if event.data["reject"]:
            raise ConflictError("Not enough stock.")

    accepted = cloud_event_headers(EVENT)
    await publish_records(
        kafka,
        topic,
        [
            (b"o-1", {"reject": False}, accepted),
            (b"o-2", {"reject": True}, cloud_event_headers(EVENT)),
            (b"o-1", {"reject": False}, accepted),  # a duplicate: no second outbox row
            (b"o-3", {"reject": False}, cloud_event_headers(EVENT)),
        ],
    )
    metrics = Metrics(CollectorRegistry())
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: on_order_placed},
        unit_of_work=lambda: SqlaUnitOfWork(sessions, outbox=outbox, mapper=no_aggregate_events),
        metrics=metrics,
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
    ):
        await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=1)

        async def settled() -> bool:
            value = metrics.registry.get_sample_value(
                "consumer_handle_duration_seconds_count",
                {"topic": topic, "group": kafka_group, "outcome": "duplicate"},
            )
            return value == 1

        await wait_until(settled, message="duplicate seen")

        async def both_applied() -> bool:
            return await _outbox_rows(engine, outbox) == 2

        await wait_until(both_applied, message="two outbox rows")

    async with engine.connect() as conn:
        claims = await conn.scalar(
            text("SELECT count(*) FROM inbox_messages WHERE consumer_group = :g"),
            {"g": kafka_group},
        )
    assert claims == 2
    assert await _outbox_rows(engine, outbox) == 2


async def _outbox_rows(engine: AsyncEngine, outbox: Outbox) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(text(f"SELECT count(*) FROM {outbox.table.name}"))  # noqa: S608
    return int(count or 0)
