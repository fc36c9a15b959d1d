"""The inbox against the real PostgreSQL and Kafka: duplicates applied once, schema, purge."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from prometheus_client import CollectorRegistry
from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.clock import SystemClock
from shared.db import create_engine, create_session_factory
from shared.inbox import (
    InboxEvent,
    RedeliveryPolicy,
    downgrade_inbox,
    purge_inbox,
    upgrade_inbox,
)
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    running_consumer,
    wait_until,
)
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings

pytestmark = pytest.mark.integration

EVENT = "test.thing_happened.v1"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="inbox-dedupe-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS inbox_test_effects ("
                " consumer_group text NOT NULL, event_id text NOT NULL, note text)"
            )
        )
    yield engine
    await engine.dispose()


def recording_handler(group: str):
    async def on_thing_happened(event: InboxEvent, session: AsyncSession) -> None:
        await session.execute(
            text("INSERT INTO inbox_test_effects VALUES (:g, :id, :note)"),
            {"g": group, "id": event.id, "note": event.data["note"]},
        )

    return on_thing_happened


async def effects(engine: AsyncEngine, group: str) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT event_id, note FROM inbox_test_effects WHERE consumer_group = :g"),
            {"g": group},
        )
        return [(r.event_id, r.note) for r in rows]


@pytest.mark.parametrize("workers", [1, 2])
async def test_the_same_event_delivered_twice_is_applied_once(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str, workers: int
) -> None:
    metrics = Metrics(CollectorRegistry())
    twice = cloud_event_headers(EVENT)
    last = cloud_event_headers(EVENT)
    key = b"order-1"
    await publish_records(
        kafka,
        topic,
        [
            (key, {"note": "first"}, twice),
            (key, {"note": "first"}, twice),
            (key, {"note": "last"}, last),
        ],
    )
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: recording_handler(kafka_group)},
        session_factory=create_session_factory(engine),
        metrics=metrics,
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
        max_workers=workers,
    ):

        async def done() -> bool:
            return len(await effects(engine, kafka_group)) >= 2

        await wait_until(done, message="both events applied")

        async def counted() -> bool:
            return _outcomes(metrics, topic, kafka_group, "duplicate") == 1

        await wait_until(counted, message="one duplicate counted")

    assert sorted(await effects(engine, kafka_group)) == sorted(
        [(_id(twice), "first"), (_id(last), "last")]
    )
    assert _outcomes(metrics, topic, kafka_group, "ok") == 2
    async with engine.connect() as conn:
        claimed = await conn.scalar(
            text("SELECT count(*) FROM inbox_messages WHERE consumer_group = :g"),
            {"g": kafka_group},
        )
    assert claimed == 2


async def test_a_redelivery_after_a_restart_is_skipped_and_offsets_are_committed(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    sessions = create_session_factory(engine)
    headers = cloud_event_headers(EVENT)
    options = {
        "topic": topic,
        "group": kafka_group,
        "handlers": {EVENT: recording_handler(kafka_group)},
        "session_factory": sessions,
    }
    await publish_records(kafka, topic, [(b"k", {"note": "once"}, headers)], partition=0)
    async with running_consumer(kafka, metrics=Metrics(CollectorRegistry()), **options):

        async def applied() -> bool:
            return len(await effects(engine, kafka_group)) == 1

        await wait_until(applied, message="first delivery applied")
    assert await _committed(kafka, topic, kafka_group, 0) == 1

    # The relay re-publishes the same event (e.g. it crashed before marking the row sent).
    metrics = Metrics(CollectorRegistry())
    await publish_records(kafka, topic, [(b"k", {"note": "once"}, headers)], partition=0)
    async with running_consumer(kafka, metrics=metrics, **options):

        async def skipped() -> bool:
            return _outcomes(metrics, topic, kafka_group, "duplicate") == 1

        await wait_until(skipped, message="redelivery skipped")
    assert await effects(engine, kafka_group) == [(_id(headers), "once")]
    assert await _committed(kafka, topic, kafka_group, 0) == 2


async def test_upgrade_and_downgrade_create_and_drop_every_inbox_table(
    ordo_database: DatabaseSettings,
) -> None:
    schema = f"inbox_mig_{uuid.uuid4().hex[:8]}"
    engine = create_engine(ordo_database, application_name="inbox-migration-test")
    tables = {
        "inbox_messages",
        "inbox_parked_keys",
        "inbox_replayed_dead_letters",
        "inbox_replay_audit",
    }
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE SCHEMA {schema}"))
            await conn.execute(text(f"SET LOCAL search_path TO {schema}"))
            await conn.run_sync(lambda c: upgrade_inbox(Operations(MigrationContext.configure(c))))
            created = await conn.run_sync(lambda c: set(inspect(c).get_table_names(schema)))
            await conn.run_sync(
                lambda c: downgrade_inbox(Operations(MigrationContext.configure(c)))
            )
            left = await conn.run_sync(lambda c: set(inspect(c).get_table_names(schema)))
        assert created == tables
        assert left == set()
    finally:
        async with engine.begin() as conn:
            await conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
        await engine.dispose()


async def test_purge_deletes_only_rows_older_than_the_window(engine: AsyncEngine) -> None:
    group = f"purge-{uuid.uuid4().hex[:8]}"
    now = SystemClock().now()
    sessions: async_sessionmaker[AsyncSession] = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for event_id, age in (("old", timedelta(days=40)), ("young", timedelta(days=1))):
            await session.execute(
                text("INSERT INTO inbox_messages VALUES (:g, :id, 't', 'topic', 0, 0, :at)"),
                {"g": group, "id": event_id, "at": now - age},
            )
    result = await purge_inbox(sessions, batch_size=1)
    assert result.messages >= 1
    async with engine.connect() as conn:
        left = await conn.scalars(
            text("SELECT event_id FROM inbox_messages WHERE consumer_group = :g"), {"g": group}
        )
        assert list(left) == ["young"]
    with pytest.raises(ValueError, match="below"):
        await purge_inbox(sessions, older_than=timedelta(days=1))


def _id(headers: list[tuple[str, bytes]]) -> str:
    return dict(headers)["ce_id"].decode()


def _outcomes(metrics: Metrics, topic: str, group: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "consumer_handle_duration_seconds_count",
        {"topic": topic, "group": group, "outcome": outcome},
    )
    return value or 0.0


async def _committed(kafka: KafkaSettings, topic: str, group: str, partition: int) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, partition))
    finally:
        await consumer.stop()
