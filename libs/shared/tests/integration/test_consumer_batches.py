"""A poll's records applied as one batch keep every promise of the per-record consumer.

Records are published before the consumer starts, so its first polls return many records of a
partition at once: duplicates inside and across batches are applied once, a key's records keep
their order, a poison record goes alone to the dead letters, a transient failure takes its key's
later records of the same batch into the lane behind it, and a consumer stopped in the middle of
a batch commits none of it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import DependencyUnavailableError, ValidationError
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

EVENT = "test.line_reserved.v1"
FAST = RedeliveryPolicy(max_attempts=3, initial_delay_s=0.2, max_delay_s=1.0)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="consumer-batch-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS batch_test_effects ("
                " seq bigserial PRIMARY KEY, consumer_group text NOT NULL,"
                " event_id text NOT NULL, message_key text NOT NULL, n int NOT NULL)"
            )
        )
    yield engine
    await engine.dispose()


class Recorder:
    """Writes one row per applied event; fails as told, per payload ``n``."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.calls: Counter[int] = Counter()
        self.permanent: set[int] = set()
        self.transient: dict[int, int] = {}
        self.hang_at: int | None = None
        self.entered = asyncio.Event()

    async def __call__(self, event: InboxEvent, session: AsyncSession) -> None:
        n = int(event.data["n"])
        self.calls[n] += 1
        await session.execute(
            text(
                "INSERT INTO batch_test_effects (consumer_group, event_id, message_key, n)"
                " VALUES (:g, :id, :k, :n)"
            ),
            {"g": self.group, "id": event.id, "k": (event.key or b"").decode(), "n": n},
        )
        if n in self.permanent:
            raise ValidationError(f"line {n} is invalid")
        if self.transient.get(n, 0) > 0:
            self.transient[n] -= 1
            raise DependencyUnavailableError("The stock service is unavailable.")
        if n == self.hang_at:
            self.entered.set()
            await asyncio.Event().wait()  # the process "dies" here, mid-batch


async def effects(engine: AsyncEngine, group: str) -> list[tuple[str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT message_key, n FROM batch_test_effects WHERE consumer_group = :g"
                " ORDER BY seq"
            ),
            {"g": group},
        )
        return [(r.message_key, r.n) for r in rows]


def records(count: int, *, keys: int) -> list[tuple[bytes, dict[str, int], list]]:
    """``count`` events over ``keys`` keys, ``n`` = position (a key's events in order)."""
    return [(f"k-{n % keys}".encode(), {"n": n}, cloud_event_headers(EVENT)) for n in range(count)]


def batch_sizes(metrics: Metrics, topic: str, group: str) -> tuple[float, float]:
    """(records applied in batches, batches) from ``consumer_batch_size``."""
    sample = metrics.registry.get_sample_value
    labels = {"topic": topic, "group": group}
    total = sample("consumer_batch_size_sum", labels) or 0.0
    count = sample("consumer_batch_size_count", labels) or 0.0
    return total, count


def in_key_order(rows: list[tuple[str, int]]) -> bool:
    last: dict[str, int] = {}
    for key, n in rows:
        if last.get(key, -1) > n:
            return False
        last[key] = n
    return True


async def test_duplicates_inside_and_across_batches_are_applied_once_in_key_order(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    handler = Recorder(kafka_group)
    published = records(300, keys=7)
    # Every 10th event is published twice in a row (a duplicate inside a batch).
    doubled = [
        copy for record in published for copy in [record] * (2 if record[1]["n"] % 10 == 0 else 1)
    ]
    await publish_records(kafka, topic, doubled, partition=1)
    metrics = Metrics(CollectorRegistry())
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: handler},
        session_factory=create_session_factory(engine),
        metrics=metrics,
        policy=FAST,
    ):

        async def all_applied() -> bool:
            return len(await effects(engine, kafka_group)) >= 300

        await wait_until(all_applied, message="every event applied")
        # The first 50 again, after their batches committed: duplicates across batches.
        await publish_records(kafka, topic, published[:50], partition=1)

        async def redelivered() -> bool:
            value = metrics.registry.get_sample_value(
                "consumer_handle_duration_seconds_count",
                {"topic": topic, "group": kafka_group, "outcome": "duplicate"},
            )
            return value == 30 + 50

        await wait_until(redelivered, message="every duplicate recognised")

    rows = await effects(engine, kafka_group)
    assert sorted(n for _, n in rows) == list(range(300))
    assert in_key_order(rows)
    applied, batches = batch_sizes(metrics, topic, kafka_group)
    assert applied >= 300
    assert batches < applied / 5  # many records per transaction, not one


async def test_a_poison_record_goes_alone_to_the_dead_letters_and_the_batch_is_applied(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    handler = Recorder(kafka_group)
    handler.permanent = {37}
    published = records(80, keys=5)
    # And one record the per-record path must dead-letter before any handler: no JSON.
    published.insert(60, (b"k-x", b"{not json", cloud_event_headers(EVENT)))
    await publish_records(kafka, topic, published, partition=0)
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: handler},
        session_factory=create_session_factory(engine),
        metrics=Metrics(CollectorRegistry()),
        policy=FAST,
    ):
        letters = await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=2)

        async def rest_applied() -> bool:
            return len(await effects(engine, kafka_group)) == 79

        await wait_until(rest_applied, message="the other records applied")

    rows = await effects(engine, kafka_group)
    assert sorted(n for _, n in rows) == [n for n in range(80) if n != 37]
    assert in_key_order(rows)
    assert handler.calls[37] == 1  # one attempt for a permanent failure, batch or not
    codes = {
        parse_dead_letter(r.headers).origin.offset: parse_dead_letter(r.headers).error_code
        for r in letters
    }  # type: ignore[union-attr]
    assert codes == {37: "validation.failed", 60: "message.undecodable"}


async def test_a_transient_failure_takes_its_keys_later_records_of_the_batch_into_the_lane(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    handler = Recorder(kafka_group)
    handler.transient = {12: 2}  # key k-2 (12 % 5): its records 17, 22, ... must wait for it
    await publish_records(kafka, topic, records(60, keys=5), partition=2)
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: handler},
        session_factory=create_session_factory(engine),
        metrics=Metrics(CollectorRegistry()),
        policy=FAST,
    ):

        async def all_applied() -> bool:
            return len(await effects(engine, kafka_group)) == 60

        await wait_until(all_applied, message="every record applied, the failed one last")

    rows = await effects(engine, kafka_group)
    assert sorted(n for _, n in rows) == list(range(60))
    assert in_key_order(rows)
    k2 = [n for key, n in rows if key == "k-2"]
    assert k2 == [n for n in range(60) if n % 5 == 2]
    assert handler.calls[12] == 3  # batch attempt 1 (routed, not re-run), then two in the lane
    others = [n for key, n in rows if key != "k-2"]
    assert rows.index(("k-2", 12)) > rows.index(("k-0", max(n for n in others if n % 5 == 0)))


async def test_a_consumer_stopped_mid_batch_commits_none_of_it_and_the_next_applies_it_once(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    handler = Recorder(kafka_group)
    handler.hang_at = 40
    await publish_records(kafka, topic, records(100, keys=9), partition=0)
    options = {
        "topic": topic,
        "group": kafka_group,
        "session_factory": create_session_factory(engine),
        "policy": FAST,
    }
    async with running_consumer(
        kafka,
        graceful_timeout_s=0.5,
        handlers={EVENT: handler},
        metrics=Metrics(CollectorRegistry()),
        **options,
    ):
        await asyncio.wait_for(handler.entered.wait(), timeout=30)
    before = await effects(engine, kafka_group)
    # Whatever committed before the hanging batch is a whole prefix; the batch itself is not.
    assert sorted(n for _, n in before) == list(range(len(before)))
    assert len(before) <= 40

    handler.hang_at = None
    async with running_consumer(
        kafka, handlers={EVENT: handler}, metrics=Metrics(CollectorRegistry()), **options
    ):

        async def all_applied() -> bool:
            return len(await effects(engine, kafka_group)) == 100

        await wait_until(all_applied, message="the rest applied after the restart")
    rows = await effects(engine, kafka_group)
    assert sorted(n for _, n in rows) == list(range(100))
    assert in_key_order(rows)
