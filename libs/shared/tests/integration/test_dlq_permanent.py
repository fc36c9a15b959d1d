"""Permanent failures go straight to ``<topic>.dlq`` with their headers; the partition moves on."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from pydantic import BaseModel, PositiveInt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import ConflictError
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

EVENT = "test.line_added.v1"


class LineAdded(BaseModel):
    sku: str
    quantity: PositiveInt


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="dlq-permanent-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS dlq_test_lines ("
                " consumer_group text NOT NULL, sku text NOT NULL, quantity int NOT NULL)"
            )
        )
    yield engine
    await engine.dispose()


async def test_permanent_failures_are_dead_lettered_at_once_with_their_codes(
    engine: AsyncEngine, kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    calls: Counter[str] = Counter()

    async def on_line_added(event: InboxEvent, session: AsyncSession) -> None:
        calls[str(event.data.get("sku"))] += 1
        if event.data.get("sku") == "TAKEN":
            raise ConflictError("The line already exists.")
        if event.data.get("sku") == "BUG":
            raise KeyError("secret-internal-detail")
        line = LineAdded.model_validate(event.data)
        await session.execute(
            text("INSERT INTO dlq_test_lines VALUES (:g, :sku, :q)"),
            {"g": kafka_group, "sku": line.sku, "q": line.quantity},
        )

    no_id = [(k, v) for k, v in cloud_event_headers(EVENT) if k != "ce_id"]
    binary = [*cloud_event_headers(EVENT), ("x-binary", b"\xff\xfe")]
    records = [
        (b"o-1", {"sku": "A", "quantity": 0}, cloud_event_headers(EVENT)),  # 0 validation
        (b"o-2", b"{not json", cloud_event_headers(EVENT)),  # 1 undecodable
        (b"o-3", {"sku": "A", "quantity": 1}, cloud_event_headers("test.unknown.v1")),  # 2
        (b"o-4", {"sku": "A", "quantity": 1}, no_id),  # 3 no event id
        (b"o-5", {"sku": "B", "quantity": 2}, binary),  # 4 applied despite a binary header
        (b"o-6", {"sku": "TAKEN", "quantity": 1}, cloud_event_headers(EVENT)),  # 5 domain
        (b"o-7", {"sku": "BUG", "quantity": 1}, cloud_event_headers(EVENT)),  # 6 bug
        (b"o-8", {"sku": "C", "quantity": 3}, cloud_event_headers(EVENT)),  # 7 applied
    ]
    await publish_records(kafka, topic, records, partition=2)
    metrics = Metrics(CollectorRegistry())
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: on_line_added},
        session_factory=create_session_factory(engine),
        metrics=metrics,
        policy=RedeliveryPolicy(max_attempts=5, initial_delay_s=5.0),
    ):
        letters = await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=6)

        async def lines_applied() -> bool:
            async with engine.connect() as conn:
                count = await conn.scalar(
                    text("SELECT count(*) FROM dlq_test_lines WHERE consumer_group = :g"),
                    {"g": kafka_group},
                )
            return count == 2

        await wait_until(lines_applied, message="healthy lines applied")

    parsed = {}
    for record in letters:
        letter = parse_dead_letter(record.headers)
        assert letter is not None
        assert letter.origin.topic == topic
        assert letter.origin.partition == 2
        assert letter.group == kafka_group
        assert letter.attempts == 1
        assert letter.reason == "permanent"
        assert letter.first_failure_at == letter.last_failure_at
        assert record.key == records[letter.origin.offset][0]
        parsed[letter.origin.offset] = letter
    assert {offset: letter.error_code for offset, letter in parsed.items()} == {
        0: "validation.failed",
        1: "message.undecodable",
        2: "message.unknown_type",
        3: "message.invalid_envelope",
        5: "resource.conflict",
        6: "internal.error",
    }
    assert parsed[5].error_message == "The line already exists."
    # An unexpected exception's text may carry internals: only its class is exported.
    assert parsed[6].error_message == "The handler raised KeyError."
    assert parsed[6].error_class == "builtins.KeyError"
    # Each failing record's handler ran once (one attempt: permanent). A healthy record's may
    # run again when a later record of its batch fails (the batch rolls back); its effect is
    # applied once (two lines above).
    assert {sku: calls[sku] for sku in ("A", "TAKEN", "BUG")} == {"A": 1, "TAKEN": 1, "BUG": 1}
    assert set(calls) == {"A", "B", "TAKEN", "BUG", "C"}
    sample = metrics.registry.get_sample_value
    assert sample("dead_letters_total", {"topic": topic, "code": "message.undecodable"}) == 1
    assert (
        sample(
            "consumer_handle_duration_seconds_count",
            {"topic": topic, "group": kafka_group, "outcome": "dead_letter"},
        )
        == 6
    )
    assert (
        sample(
            "consumer_handle_duration_seconds_count",
            {"topic": topic, "group": kafka_group, "outcome": "retry"},
        )
        is None
    )
