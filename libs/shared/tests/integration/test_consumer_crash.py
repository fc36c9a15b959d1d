"""Offsets follow the database: a consumer stopped before or after its commit loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.db import create_engine, create_session_factory
from shared.errors import DependencyUnavailableError
from shared.inbox import InboxEvent, RedeliveryPolicy
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

EVENT = "test.payment_authorized.v1"
POLICY = RedeliveryPolicy(max_attempts=3, initial_delay_s=0.2, max_delay_s=1.0)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="consumer-crash-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS crash_test_effects ("
                " consumer_group text NOT NULL, event_id text NOT NULL)"
            )
        )
    yield engine
    await engine.dispose()


def writer(group: str):
    async def on_payment_authorized(event: InboxEvent, session: AsyncSession) -> None:
        await session.execute(
            text("INSERT INTO crash_test_effects VALUES (:g, :id)"), {"g": group, "id": event.id}
        )

    return on_payment_authorized


async def effect_count(engine: AsyncEngine, group: str) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM crash_test_effects WHERE consumer_group = :g"), {"g": group}
        )
    return int(count or 0)


async def committed(kafka: KafkaSettings, topic: str, group: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def test_a_consumer_killed_inside_the_transaction_commits_nothing_and_gets_it_again(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    sessions = create_session_factory(engine)
    entered, never = asyncio.Event(), asyncio.Event()
    write = writer(kafka_group)

    async def hangs_after_writing(event: InboxEvent, session: AsyncSession) -> None:
        await write(event, session)
        entered.set()
        await never.wait()  # the process "dies" here: its transaction never commits

    await publish_records(
        kafka, topic, [(b"p-1", {"amount": 10}, cloud_event_headers(EVENT))], partition=0
    )
    async with running_consumer(
        kafka,
        graceful_timeout_s=0.5,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: hangs_after_writing},
        session_factory=sessions,
        policy=POLICY,
        metrics=Metrics(CollectorRegistry()),
    ):
        await asyncio.wait_for(entered.wait(), timeout=30)
    assert await effect_count(engine, kafka_group) == 0
    assert await committed(kafka, topic, kafka_group) is None

    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: write},
        session_factory=sessions,
        policy=POLICY,
        metrics=Metrics(CollectorRegistry()),
    ):

        async def applied() -> bool:
            return await effect_count(engine, kafka_group) == 1

        await wait_until(applied, message="redelivered message applied")
    assert await effect_count(engine, kafka_group) == 1
    assert await committed(kafka, topic, kafka_group) == 1


async def test_a_consumer_killed_between_db_commit_and_offset_commit_applies_once(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    sessions = create_session_factory(engine)
    options = {
        "topic": topic,
        "group": kafka_group,
        "handlers": {EVENT: writer(kafka_group)},
        "session_factory": sessions,
        "policy": POLICY,
    }
    async with running_consumer(kafka, metrics=Metrics(CollectorRegistry()), **options) as consumer:
        # The process dies right after the database commit: no offset commit ever happens.
        # Patched before the message exists, so no delivery can be marked before the patch.
        consumer._commits.mark = lambda *args: None  # type: ignore[method-assign]
        await publish_records(
            kafka, topic, [(b"p-2", {"amount": 5}, cloud_event_headers(EVENT))], partition=0
        )

        async def applied() -> bool:
            return await effect_count(engine, kafka_group) == 1

        await wait_until(applied, message="first delivery applied")
    assert await committed(kafka, topic, kafka_group) is None

    metrics = Metrics(CollectorRegistry())
    async with running_consumer(kafka, metrics=metrics, **options):

        async def deduplicated() -> bool:
            value = metrics.registry.get_sample_value(
                "consumer_handle_duration_seconds_count",
                {"topic": topic, "group": kafka_group, "outcome": "duplicate"},
            )
            return value == 1

        await wait_until(deduplicated, message="redelivery recognised as a duplicate")
    assert await effect_count(engine, kafka_group) == 1
    assert await committed(kafka, topic, kafka_group) == 1


class FlakySessions:
    """A session factory that fails (as if the database were down) when told to."""

    def __init__(self, real: async_sessionmaker[AsyncSession]) -> None:
        self.real = real
        self.fail_next = 0

    def __call__(self) -> AsyncSession:
        if self.fail_next:
            self.fail_next -= 1
            raise DependencyUnavailableError("The database is unavailable.")
        return self.real()


async def test_a_failure_to_move_a_message_aside_leaves_it_unacknowledged_and_retried_in_place(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    sessions = FlakySessions(create_session_factory(engine))
    write = writer(kafka_group)
    calls = 0

    async def fails_once_with_the_database(event: InboxEvent, session: AsyncSession) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            sessions.fail_next = 1  # parking the key for the retry lane will fail too
            raise DependencyUnavailableError("The database is unavailable.")
        await write(event, session)

    metrics = Metrics(CollectorRegistry())
    await publish_records(
        kafka, topic, [(b"p-3", {"amount": 1}, cloud_event_headers(EVENT))], partition=0
    )
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: fails_once_with_the_database},
        session_factory=sessions,  # type: ignore[arg-type]
        policy=POLICY,
        metrics=metrics,
    ) as consumer:

        async def applied() -> bool:
            return await effect_count(engine, kafka_group) == 1

        await wait_until(applied, message="message applied after the in-place retry")
        lane_end = await _end_offset(kafka, consumer.retry_topic)
    assert calls == 2
    assert lane_end == 0  # nothing reached the retry lane
    assert (
        metrics.registry.get_sample_value(
            "consumer_handle_duration_seconds_count",
            {"topic": topic, "group": kafka_group, "outcome": "ok"},
        )
        == 1
    )
    assert await committed(kafka, topic, kafka_group) == 1


async def _end_offset(kafka: KafkaSettings, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=None)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(3)]
        ends = await consumer.end_offsets(tps)
        return sum(ends.values())
    finally:
        await consumer.stop()
