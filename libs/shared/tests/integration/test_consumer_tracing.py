"""The consumer continues the producer's trace, binds the event id for logs, and reports lag."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import structlog
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.inbox import InboxEvent, ensure_inbox_topics
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    running_consumer,
    wait_until,
)
from shared.messaging import delete_topics
from shared.observability.metrics import Metrics
from shared.observability.tracing import configure_tracing, current_trace_ids
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

EVENT = "test.order_placed.v1"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PRODUCER_SPAN_ID = "00f067aa0ba902b7"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="consumer-tracing-tests")
    await apply_inbox_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def topic(new_topic, ordo_endpoints: Endpoints, kafka_group: str) -> AsyncIterator[str]:
    bootstrap = ordo_endpoints.kafka_bootstrap
    name = await new_topic(partitions=1)
    twins = await ensure_inbox_topics(bootstrap, name, kafka_group, partitions=1)
    yield name
    await delete_topics(bootstrap, twins)


async def test_the_consumer_span_is_a_child_of_the_producer_span_and_logs_carry_event_id(
    engine: AsyncEngine, ordo_endpoints: Endpoints, topic: str, kafka_group: str
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("inbox-tests", "0.0.0", None, exporter=exporter)
    kafka = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)
    headers = cloud_event_headers(
        EVENT,
        extra={"traceparent": f"00-{TRACE_ID}-{PRODUCER_SPAN_ID}-01", "ce_orgid": "org-7"},
    )
    event_id = dict(headers)["ce_id"].decode()
    seen: dict[str, Any] = {}

    async def on_order_placed(event: InboxEvent, session: AsyncSession) -> None:
        seen.update(structlog.contextvars.get_contextvars())
        seen["trace_ids"] = current_trace_ids()
        seen["org_id"] = event.org_id

    metrics = Metrics(CollectorRegistry())
    await publish_records(kafka, topic, [(b"order-9", {"total": 1}, headers)])
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: on_order_placed},
        session_factory=create_session_factory(engine),
        metrics=metrics,
    ):

        async def handled() -> bool:
            return "trace_ids" in seen

        await wait_until(handled, message="event handled")

        async def lag_reported() -> bool:
            value = metrics.registry.get_sample_value(
                "consumer_lag", {"topic": topic, "partition": "0", "group": kafka_group}
            )
            return value == 0

        await wait_until(lag_reported, message="lag gauge at zero")

    (span,) = [s for s in exporter.get_finished_spans() if s.name == f"{topic} process"]
    assert span.kind is SpanKind.CONSUMER
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == PRODUCER_SPAN_ID
    assert span.attributes is not None
    assert span.attributes["messaging.consumer.group.name"] == kafka_group
    assert span.attributes["messaging.message.id"] == event_id
    assert span.attributes["ordo.inbox.outcome"] == "ok"
    # What configure_logging merges into every line written while the handler runs.
    assert seen["event_id"] == event_id
    assert seen["event_type"] == EVENT
    assert seen["trace_ids"][0] == TRACE_ID
    assert seen["org_id"] == "org-7"
