"""Transient failures: retried through the lane with backoff, then dead-lettered; key order kept."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import DependencyUnavailableError
from shared.inbox import InboxEvent, RedeliveryPolicy, parse_dead_letter
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings

pytestmark = pytest.mark.integration

EVENT = "test.stock_reserved.v1"
FAST = RedeliveryPolicy(max_attempts=4, initial_delay_s=0.3, multiplier=2.0, max_delay_s=2.0)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="consumer-retry-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS consumer_test_effects ("
                " seq bigserial PRIMARY KEY, consumer_group text NOT NULL,"
                " event_id text NOT NULL, message_key text, note text, attempt int,"
                " applied_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        )
    yield engine
    await engine.dispose()


class FlakyHandler:
    """Fails transiently while ``failures_left[note]`` is positive; records every success."""

    def __init__(self, group: str, failures_left: dict[str, int]) -> None:
        self.group = group
        self.failures_left = failures_left
        self.calls: Counter[str] = Counter()

    async def __call__(self, event: InboxEvent, session: AsyncSession) -> None:
        note = event.data["note"]
        self.calls[note] += 1
        await session.execute(
            text(
                "INSERT INTO consumer_test_effects (consumer_group, event_id, message_key,"
                " note, attempt) VALUES (:g, :id, :k, :n, :a)"
            ),
            {
                "g": self.group,
                "id": event.id,
                "k": (event.key or b"").decode(),
                "n": note,
                "a": event.attempt,
            },
        )
        if self.failures_left.get(note, 0) > 0:
            self.failures_left[note] -= 1
            # Raised after the write: the write must roll back with the claim.
            raise DependencyUnavailableError("The stock service is unavailable.")


async def applied(engine: AsyncEngine, group: str) -> list[dict[str, object]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT note, message_key, attempt, applied_at FROM consumer_test_effects"
                " WHERE consumer_group = :g ORDER BY seq"
            ),
            {"g": group},
        )
        return [dict(r._mapping) for r in rows]


async def test_a_transient_failure_is_retried_with_backoff_and_then_applied_once(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    metrics = Metrics(CollectorRegistry())
    handler = FlakyHandler(kafka_group, {"flaky": 2})
    await publish_records(
        kafka,
        topic,
        [
            (b"order-1", {"note": "flaky"}, cloud_event_headers(EVENT)),
            (b"order-2", {"note": "behind"}, cloud_event_headers(EVENT)),
        ],
        partition=0,
    )
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: handler},
        session_factory=create_session_factory(engine),
        metrics=metrics,
        policy=FAST,
    ):

        async def both() -> bool:
            return len(await applied(engine, kafka_group)) == 2

        await wait_until(both, message="both events applied")

    rows = await applied(engine, kafka_group)
    # The message behind the failing one was not held up by its backoff.
    assert [r["note"] for r in rows] == ["behind", "flaky"]
    assert rows[1]["attempt"] == 3
    assert handler.calls == {"flaky": 3, "behind": 1}
    sample = metrics.registry.get_sample_value
    assert (
        sample(
            "consumer_handle_duration_seconds_count",
            {"topic": topic, "group": kafka_group, "outcome": "retry"},
        )
        == 1
    )
    assert sample("dead_letters_total", {"topic": topic, "code": "dependency.unavailable"}) is None


async def test_a_poison_message_is_dead_lettered_after_n_attempts_while_the_partition_moves_on(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    metrics = Metrics(CollectorRegistry())
    handler = FlakyHandler(kafka_group, {"poison": 1_000})
    poison_headers = cloud_event_headers(
        EVENT, extra={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"}
    )
    records = [
        (b"order-A", {"note": "poison"}, poison_headers),
        (b"order-B", {"note": "other key"}, cloud_event_headers(EVENT)),
        (b"order-A", {"note": "same key 1"}, cloud_event_headers(EVENT)),
        (b"order-A", {"note": "same key 2"}, cloud_event_headers(EVENT)),
    ]
    await publish_records(kafka, topic, records, partition=1)
    started = datetime.now(UTC)
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: handler},
        session_factory=create_session_factory(engine),
        metrics=metrics,
        policy=FAST,
    ):
        (letter_record,) = await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=1)

        async def rest() -> bool:
            return len(await applied(engine, kafka_group)) == 3

        await wait_until(rest, message="the three healthy events applied")

    rows = await applied(engine, kafka_group)
    assert [r["note"] for r in rows] == ["other key", "same key 1", "same key 2"]
    dead_lettered_at = datetime.fromtimestamp(letter_record.timestamp / 1000, UTC)
    # Another key went first; the poison's own key waited until it was given up, in order.
    assert rows[0]["applied_at"] < dead_lettered_at <= rows[1]["applied_at"]
    assert handler.calls["poison"] == FAST.max_attempts

    letter = parse_dead_letter(letter_record.headers)
    assert letter is not None
    assert (letter.origin.topic, letter.origin.partition, letter.origin.offset) == (topic, 1, 0)
    assert letter.group == kafka_group
    assert letter.error_code == "dependency.unavailable"
    assert letter.error_message == "The stock service is unavailable."
    assert letter.error_class == "shared.errors.DependencyUnavailableError"
    assert letter.attempts == FAST.max_attempts
    assert letter.reason == "exhausted"
    assert started <= letter.first_failure_at < letter.last_failure_at <= dead_lettered_at
    # Key, value and the producer's headers are untouched; no retry bookkeeping leaks out.
    assert letter_record.key == b"order-A"
    assert letter_record.value == b'{"note": "poison"}'
    assert list(letter_record.headers[: len(poison_headers)]) == poison_headers
    assert not [k for k, _ in letter_record.headers if k.startswith("ordo-retry-")]
    assert (
        metrics.registry.get_sample_value(
            "dead_letters_total", {"topic": topic, "code": "dependency.unavailable"}
        )
        == 1
    )
    async with engine.connect() as conn:
        parked = await conn.scalar(
            text("SELECT count(*) FROM inbox_parked_keys WHERE consumer_group = :g"),
            {"g": kafka_group},
        )
    assert parked == 0
