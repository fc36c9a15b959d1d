"""The relay against the real PostgreSQL and Kafka: publish, mark, trace, lanes, failures."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, Table, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import FrozenClock
from shared.db import create_engine
from shared.messaging import create_topics, delete_topics
from shared.observability.metrics import Metrics
from shared.observability.tracing import configure_tracing
from shared.outbox import (
    CE_ID,
    CE_SOURCE,
    CE_SPECVERSION,
    CE_TYPE,
    Outbox,
    OutboxMessage,
    OutboxRelay,
    RelayConfig,
    lane_for,
    outbox_table,
    relay_producer_factory,
)
from shared.outbox._pg import connect
from shared.outbox.testing import drop_outbox, eventually, install_outbox, read_topic
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

FAST = RelayConfig(poll_interval_s=0.1, rebalance_interval_s=0.2, metrics_interval_s=0.2)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-relay")
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield outbox_table(MetaData(), name)
    await drop_outbox(engine, name)


def make_relay(
    endpoints: Endpoints,
    database: DatabaseSettings,
    table: Table,
    config: RelayConfig = FAST,
    metrics: Metrics | None = None,
) -> OutboxRelay:
    kafka = KafkaSettings(bootstrap_servers=endpoints.kafka_bootstrap, client_id="test-relay")
    return OutboxRelay(
        database=database,
        producer_factory=relay_producer_factory(kafka, "test"),
        service="test",
        table=table,
        config=config,
        metrics=metrics or Metrics(CollectorRegistry()),
    )


async def all_published(engine: AsyncEngine, table: Table) -> bool:
    async with engine.connect() as conn:
        rows = await conn.execute(select(table.c.id).where(table.c.published_at.is_(None)))
        return not rows.all()


async def test_committed_rows_reach_the_topic_with_cloudevents_headers_and_are_marked(
    ordo_endpoints: Endpoints,
    ordo_database: DatabaseSettings,
    engine: AsyncEngine,
    table,
    new_topic,
) -> None:
    topic = await new_topic(partitions=3)
    outbox = Outbox(table, source="/ordo/test")
    messages = [
        OutboxMessage(
            topic=topic,
            key=f"order-{i % 4}",
            type="ordo.test.happened.v1",
            payload={"n": i, "note": "é"},
            org_id="org-1",
        )
        for i in range(40)
    ]
    async with engine.begin() as conn:
        await outbox.add_many(conn, messages)

    relay = make_relay(ordo_endpoints, ordo_database, table)
    task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=40)
        await eventually(lambda: all_published(engine, table))
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)

    by_id = {r.headers[CE_ID]: r for r in records}
    assert set(by_id) == {str(m.event_id) for m in messages}
    sample = by_id[str(messages[5].event_id)]
    assert sample.key == "order-1"
    assert json.loads(sample.value) == {"n": 5, "note": "é"}
    assert sample.headers[CE_SPECVERSION] == "1.0"
    assert sample.headers[CE_TYPE] == "ordo.test.happened.v1"
    assert sample.headers[CE_SOURCE] == "/ordo/test"
    assert sample.headers["ce_orgid"] == "org-1"


async def test_the_publish_span_is_a_child_of_the_span_that_wrote_the_row(
    ordo_endpoints: Endpoints,
    ordo_database: DatabaseSettings,
    engine: AsyncEngine,
    table,
    new_topic,
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("test", "0", None, exporter=exporter)
    topic = await new_topic(partitions=1)
    outbox = Outbox(table, source="/ordo/test")
    tracer = trace.get_tracer("test")
    with tracer.start_as_current_span("place order") as request_span:
        async with engine.begin() as conn:
            event_id = await outbox.add(
                conn, OutboxMessage(topic=topic, key="o-1", type="t.v1", payload={})
            )
    trace_id = request_span.get_span_context().trace_id

    relay = make_relay(ordo_endpoints, ordo_database, table)
    task = asyncio.create_task(relay.run())
    try:
        [record] = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=1)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)

    publish = [
        s
        for s in exporter.get_finished_spans()
        if s.name == f"publish {topic}"
        and s.attributes.get("messaging.message.id") == str(event_id)
    ]
    assert len(publish) == 1
    span = publish[0]
    assert span.context.trace_id == trace_id
    assert span.parent is not None
    assert span.parent.span_id == request_span.get_span_context().span_id
    # The record carries the publish span on, so the consumer continues the same trace.
    assert record.headers["traceparent"].split("-")[1] == format(trace_id, "032x")
    assert record.headers["traceparent"].split("-")[2] == format(span.context.span_id, "016x")


async def test_backlog_metrics_follow_the_table(
    ordo_endpoints: Endpoints,
    ordo_database: DatabaseSettings,
    engine: AsyncEngine,
    table,
    new_topic,
) -> None:
    topic = await new_topic(partitions=1)
    registry = CollectorRegistry()
    relay = make_relay(ordo_endpoints, ordo_database, table, metrics=Metrics(registry))
    labels = {"service": "test"}
    outbox = Outbox(table, source="/ordo/test")
    async with engine.begin() as conn:
        await outbox.add_many(
            conn,
            [OutboxMessage(topic=topic, key=f"k{i}", type="t.v1", payload={}) for i in range(5)],
        )
    await asyncio.sleep(0.3)
    conn = await connect(ordo_database, application_name="test-metrics", timeout_s=5)
    try:
        await relay.refresh_metrics(conn)
        assert registry.get_sample_value("outbox_backlog", labels) == 5
        assert registry.get_sample_value("outbox_oldest_unpublished_age_seconds", labels) >= 0.3

        task = asyncio.create_task(relay.run())
        try:
            await eventually(lambda: all_published(engine, table))
            await relay.refresh_metrics(conn)
            assert registry.get_sample_value("outbox_lanes_owned", labels) == 64
        finally:
            relay.stop()
            await asyncio.wait_for(task, 20)
    finally:
        await conn.close()
    assert registry.get_sample_value("outbox_backlog", labels) == 0
    assert registry.get_sample_value("outbox_oldest_unpublished_age_seconds", labels) == 0
    assert registry.get_sample_value("outbox_published_total", labels) == 5
    assert registry.get_sample_value("outbox_lanes_owned", labels) == 0  # released on stop


async def test_published_rows_are_deleted_after_the_retention_and_others_kept(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine: AsyncEngine, table
) -> None:
    outbox = Outbox(table, source="/ordo/test")
    messages = [OutboxMessage(topic="t", key=f"k{i}", type="t.v1", payload={}) for i in range(6)]
    async with engine.begin() as conn:
        await outbox.add_many(conn, messages)
        published_long_ago = [m.event_id for m in messages[:3]]
        await conn.execute(
            update(table).where(table.c.id.in_(published_long_ago)).values(published_at=func.now())
        )
        # Published "recently" as seen from the frozen clock below.
        await conn.execute(
            update(table)
            .where(table.c.id == messages[3].event_id)
            .values(published_at=func.now() + timedelta(hours=36))
        )
    clock = FrozenClock(datetime.now(UTC) + timedelta(days=2))
    config = RelayConfig(retention_s=24 * 3600, cleanup_batch=2)  # several batches
    relay = OutboxRelay(
        database=ordo_database,
        producer_factory=lambda: None,
        service="test",
        table=table,
        config=config,
        metrics=Metrics(CollectorRegistry()),
        clock=clock,
    )
    conn = await connect(ordo_database, application_name="test-cleanup", timeout_s=5)
    try:
        assert await relay.cleanup(conn) == 3
        assert await relay.cleanup(conn) == 0
    finally:
        await conn.close()
    async with engine.connect() as c:
        left = set((await c.execute(select(table.c.id))).scalars())
    assert left == {m.event_id for m in messages[3:]}  # recent and unpublished rows stay


async def test_a_failing_row_stops_only_its_lane_until_it_can_be_published(
    ordo_endpoints: Endpoints,
    ordo_database: DatabaseSettings,
    engine: AsyncEngine,
    table,
    new_topic,
) -> None:
    good_topic = await new_topic(partitions=1)
    missing_topic = f"test.missing.{uuid.uuid4().hex[:10]}"  # auto-creation is off
    lanes = RelayConfig().lanes
    stuck_key = "stuck-0"
    behind = next(
        f"behind-{i}"
        for i in range(10_000)
        if lane_for(f"behind-{i}", lanes) == lane_for(stuck_key, lanes)
    )
    free = next(
        f"free-{i}"
        for i in range(10_000)
        if lane_for(f"free-{i}", lanes) != lane_for(stuck_key, lanes)
    )
    outbox = Outbox(table, source="/ordo/test")
    stuck = OutboxMessage(topic=missing_topic, key=stuck_key, type="t.v1", payload={})
    waiting = OutboxMessage(topic=good_topic, key=behind, type="t.v1", payload={"n": 1})
    flowing = OutboxMessage(topic=good_topic, key=free, type="t.v1", payload={"n": 2})
    async with engine.begin() as conn:
        await outbox.add_many(conn, [stuck, waiting, flowing])

    kafka = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, request_timeout_s=1.0)
    config = RelayConfig(
        poll_interval_s=0.1, publish_timeout_s=3, lane_backoff_initial_s=0.5, lane_backoff_max_s=1.0
    )
    relay = OutboxRelay(
        database=ordo_database,
        producer_factory=relay_producer_factory(kafka, "t"),
        service="test",
        table=table,
        config=config,
        metrics=Metrics(CollectorRegistry()),
    )
    task = asyncio.create_task(relay.run())
    try:
        [record] = await read_topic(
            ordo_endpoints.kafka_bootstrap, good_topic, at_least=1, settle_s=1.5
        )
        assert record.headers[CE_ID] == str(flowing.event_id)  # the other lane went on
        async with engine.connect() as conn:
            head = (
                await conn.execute(
                    select(table.c.attempts, table.c.last_error).where(table.c.id == stuck.event_id)
                )
            ).one()
        assert head.attempts >= 1
        assert "UnknownTopicOrPartition" in head.last_error

        await create_topics(ordo_endpoints.kafka_bootstrap, [missing_topic], partitions=1)
        try:
            await read_topic(ordo_endpoints.kafka_bootstrap, missing_topic, at_least=1)
            records = await read_topic(ordo_endpoints.kafka_bootstrap, good_topic, at_least=2)
        finally:
            await delete_topics(ordo_endpoints.kafka_bootstrap, [missing_topic])
    finally:
        relay.stop()
        await asyncio.wait_for(task, 20)
    assert [r.headers[CE_ID] for r in records] == [str(flowing.event_id), str(waiting.event_id)]
