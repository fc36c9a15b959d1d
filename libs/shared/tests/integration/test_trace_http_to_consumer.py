"""One trace from an HTTP request, through the outbox row and the relay, into the consumer.

The chain every Ordo flow follows: a request writes its event in the outbox inside its
transaction (traceparent taken from the request's span), the relay publishes it, and a
consumer in "another service" continues the same trace, with trace_id in its log lines.
"""

from __future__ import annotations

import asyncio
import io
import json
import sys
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import structlog
from fastapi import APIRouter
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.http import create_app
from shared.inbox import InboxEvent, ensure_inbox_topics
from shared.inbox.testing import apply_inbox_schema, running_consumer, wait_until
from shared.messaging import delete_topics
from shared.observability.logging import configure_logging
from shared.observability.metrics import Metrics
from shared.observability.tracing import configure_tracing, current_trace_ids
from shared.outbox import Outbox, OutboxMessage, OutboxRelay, outbox_table, relay_producer_factory
from shared.outbox.testing import drop_outbox, install_outbox
from shared.settings import DatabaseSettings, KafkaSettings, ServiceSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

EVENT_TYPE = "ordo.test.thing.created.v1"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="trace-chain-tests")
    await apply_inbox_schema(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def outbox_name(engine: AsyncEngine) -> AsyncIterator[str]:
    name = f"outbox_trace_{uuid.uuid4().hex[:8]}"
    await install_outbox(engine, name)
    yield name
    await drop_outbox(engine, name)


async def test_a_trace_begun_in_http_continues_in_the_consumer_and_its_logs(
    engine: AsyncEngine,
    outbox_name: str,
    ordo_database: DatabaseSettings,
    ordo_endpoints: Endpoints,
    new_topic,
    kafka_group: str,
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("trace-chain", "0.0.0", None, exporter=exporter)
    log_lines = io.StringIO()
    configure_logging("trace-chain", "INFO", stream=log_lines)
    kafka = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, client_id="trace")
    topic = await new_topic(partitions=1)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, topic, kafka_group, partitions=1)
    sessions = create_session_factory(engine)
    outbox = Outbox(outbox_table(MetaData(), outbox_name), source="/ordo/test")

    request_trace: dict[str, Any] = {}
    router = APIRouter()

    @router.post("/things", status_code=201)
    async def create_thing() -> dict[str, str]:
        request_trace["ids"] = current_trace_ids()
        thing_id = str(uuid.uuid4())
        async with sessions() as session, session.begin():
            await outbox.add(
                session,
                OutboxMessage(topic=topic, key=thing_id, type=EVENT_TYPE, payload={"id": thing_id}),
            )
        return {"id": thing_id}

    handled: dict[str, Any] = {}

    async def on_thing_created(event: InboxEvent, session: AsyncSession) -> None:
        handled["ids"] = current_trace_ids()
        structlog.get_logger("consumer").info("thing_handled")

    app = create_app(
        title="trace-chain",
        version="0",
        settings=ServiceSettings(service_name="trace-chain", environment="test"),
        readiness={},
        routers=[router],
        metrics=Metrics(CollectorRegistry()),
    )
    relay = OutboxRelay(
        database=ordo_database,
        producer_factory=relay_producer_factory(kafka, "trace-chain"),
        service="trace-chain",
        table=outbox_name,
        metrics=Metrics(CollectorRegistry()),
    )
    relay_task = asyncio.create_task(relay.run())
    try:
        async with running_consumer(
            kafka,
            topic=topic,
            group=kafka_group,
            handlers={EVENT_TYPE: on_thing_created},
            session_factory=sessions,
            metrics=Metrics(CollectorRegistry()),
        ):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                response = await client.post("/things")
            assert response.status_code == 201, response.text

            async def consumed() -> bool:
                return "ids" in handled

            await wait_until(consumed, message="event handled by the consumer", timeout_s=30)
    finally:
        relay.stop()
        await asyncio.wait_for(relay_task, 30)
        await delete_topics(kafka.bootstrap_servers, twins)
        configure_logging("tests", "INFO", stream=sys.stdout)

    trace_id, _ = request_trace["ids"]
    assert trace_id is not None
    assert handled["ids"][0] == trace_id
    spans = exporter.get_finished_spans()
    by_trace = [s for s in spans if format(s.context.trace_id, "032x") == trace_id]
    names = {s.name for s in by_trace}
    # The request's span, the relay's publish span (continued from the row's traceparent) and
    # the consumer's span all share the request's trace id.
    assert "POST /things" in names, names
    assert f"publish {topic}" in names, names
    assert f"{topic} process" in names, names
    lines = [json.loads(line) for line in log_lines.getvalue().splitlines() if line.strip()]
    handled_lines = [line for line in lines if line.get("event") == "thing_handled"]
    assert handled_lines, lines
    assert handled_lines[0]["trace_id"] == trace_id
    assert handled_lines[0]["event_id"]
