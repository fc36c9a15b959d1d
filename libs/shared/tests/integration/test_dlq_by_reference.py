"""No record stops a partition: one whose dead-letter copy cannot be produced is dead-lettered
by reference, the partition moves on, and the replay reads the original back by its coordinates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import DependencyUnavailableError
from shared.inbox import InboxEvent, RedeliveryPolicy, parse_dead_letter, replay_dead_letters
from shared.inbox._headers import H_DLQ_ORIGINAL_SIZE, header_text, is_reference
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.messaging import create_producer
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings

pytestmark = pytest.mark.integration

EVENT = "test.order_noted.v1"
# Close to the broker's limit (1 MiB): accepted as produced, too large to copy with the
# dead-letter headers added.
NEAR_LIMIT = 1_047_000


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="dlq-reference-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS reference_test_effects ("
                " consumer_group text NOT NULL, note text NOT NULL)"
            )
        )
    yield engine
    await engine.dispose()


def recorder(group: str, *, transient_for: str | None = None):
    async def on_order_noted(event: InboxEvent, session: AsyncSession) -> None:
        if event.data.get("note") == transient_for:
            raise DependencyUnavailableError("The ledger is unavailable.")
        await session.execute(
            text("INSERT INTO reference_test_effects VALUES (:g, :n)"),
            {"g": group, "n": event.data["note"]},
        )

    return on_order_noted


async def notes(engine: AsyncEngine, group: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT note FROM reference_test_effects WHERE consumer_group = :g"), {"g": group}
        )
        return [r.note for r in rows]


async def publish_huge(kafka: KafkaSettings, topic: str, value: bytes, key: bytes) -> None:
    producer = create_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, value=value, key=key, headers=cloud_event_headers(EVENT), partition=0
        )
    finally:
        await producer.stop()


async def test_an_undecodable_record_at_the_size_limit_is_dead_lettered_by_reference(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    huge = b"{" + b"x" * NEAR_LIMIT  # not JSON: a permanent failure
    await publish_huge(kafka, topic, huge, b"order-1")
    await publish_records(
        kafka, topic, [(b"order-2", {"note": "behind"}, cloud_event_headers(EVENT))], partition=0
    )
    metrics = Metrics(CollectorRegistry())
    sessions = create_session_factory(engine)
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: recorder(kafka_group)},
        session_factory=sessions,
        metrics=metrics,
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
    ):

        async def moved_on() -> bool:
            return await notes(engine, kafka_group) == ["behind"]

        await wait_until(moved_on, message="the record behind the huge one applied")
        (letter,) = await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=1)

    assert is_reference(letter.headers)
    assert letter.value is None
    assert int(header_text(letter.headers, H_DLQ_ORIGINAL_SIZE) or 0) > NEAR_LIMIT
    parsed = parse_dead_letter(letter.headers)
    assert parsed is not None
    assert (parsed.origin.topic, parsed.origin.partition, parsed.origin.offset) == (topic, 0, 0)
    assert parsed.error_code == "message.undecodable"
    sample = metrics.registry.get_sample_value
    assert sample("dead_letters_total", {"topic": topic, "code": "message.undecodable"}) == 1

    # The replay reads the original back by its coordinates and re-publishes it as it was.
    report = await replay_dead_letters(
        session_factory=sessions,
        kafka=kafka,
        dlq_topic=f"{topic}.dlq",
        actor="test",
        reason="the huge record, once more",
        target="original",
    )
    assert (report.matched, report.replayed, report.unreadable) == (1, 1, 0)
    records = await read_topic(kafka.bootstrap_servers, topic, expected=3)
    again = [r for r in records if (r.partition, r.offset) not in {(0, 0), (0, 1)}]
    assert [(r.key, r.value) for r in again] == [(b"order-1", huge)]


async def test_a_transient_failure_too_large_for_the_lane_is_dead_lettered_and_its_key_not_parked(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    pad = "y" * (NEAR_LIMIT - 100)
    await publish_huge(
        kafka, topic, b'{"note": "huge", "pad": "' + pad.encode() + b'"}', b"order-9"
    )
    await publish_records(
        kafka,
        topic,
        [(b"order-9", {"note": "same key, behind"}, cloud_event_headers(EVENT))],
        partition=0,
    )
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: recorder(kafka_group, transient_for="huge")},
        session_factory=create_session_factory(engine),
        metrics=Metrics(CollectorRegistry()),
        policy=RedeliveryPolicy(max_attempts=3, initial_delay_s=0.1),
    ):

        async def moved_on() -> bool:
            return await notes(engine, kafka_group) == ["same key, behind"]

        await wait_until(moved_on, message="the key's next record applied, not parked forever")
        (letter,) = await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=1)
    parsed = parse_dead_letter(letter.headers)
    assert parsed is not None
    assert parsed.error_code == "message.unroutable"
    assert is_reference(letter.headers)
