"""The delivery worker against real PostgreSQL, a real receiver (which verifies every signature
with the tests' own Standard Webhooks verifier) and, end to end, a real Kafka topic."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import jsonschema
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications.adapters.messaging.handlers import build_order_handlers
from notifications.application.facade import NotificationsUseCases
from notifications.bootstrap import deliveries_doorbell, unit_of_work_factory
from shared.inbox import ensure_inbox_topics
from shared.inbox.testing import cloud_event_headers, publish_records, running_consumer, wait_until
from shared.messaging import delete_topics
from shared.observability import configure_tracing
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing.asyncapi import EventContract, resolved_schema
from shared.testing.plugin import NewTopic

from .conftest import (
    REPO,
    create_endpoint,
    deliveries_of,
    fast_delivery,
    order_placed,
    outbox_rows,
    principal_of,
    running_worker,
    schedule_placed,
    settings_for,
)
from .receiver import Receiver

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quiet_deliveries")]

SUCCEEDED = "ordo.notifications.webhook_delivery.succeeded.v1"
FAILED = "ordo.notifications.webhook_delivery.failed.v1"


@pytest.fixture
async def orders_topic(
    new_topic: NewTopic, kafka: KafkaSettings, kafka_group: str
) -> AsyncIterator[str]:
    """A stand-in for ``orders.events``, with the group's retry lane and dead-letter topic."""
    name = await new_topic(partitions=3)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, kafka_group, partitions=3)
    yield name
    await delete_topics(kafka.bootstrap_servers, twins)


async def test_an_event_from_the_topic_reaches_the_receiver_signed_and_at_once(
    notifications: NotificationsUseCases,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    kafka: KafkaSettings,
    orders_topic: str,
    kafka_group: str,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, secret = await create_endpoint(notifications, org_id, receiver.url("/hook"))
    receiver.on("/hook", 200, secret=secret)
    payload = order_placed(org_id)
    headers = cloud_event_headers(
        "ordo.orders.order.placed.v1", source="/ordo/orders", extra={"ce_orgid": str(org_id)}
    )
    event_id = dict(headers)["ce_id"].decode()
    # The worker polls only every 30 s: a prompt delivery proves the consumer's doorbell.
    settings = settings_for(migrated, delivery=fast_delivery(poll_interval_s=30.0))
    bell = deliveries_doorbell(settings, "notifications-tests-doorbell")
    async with (
        running_worker(settings) as worker,
        running_consumer(
            kafka,
            topic=orders_topic,
            group=kafka_group,
            handlers=build_order_handlers(notifications),
            unit_of_work=unit_of_work_factory(sessions, None, bell),
        ),
    ):
        assert worker.worker.in_flight == 0
        await publish_records(
            kafka, orders_topic, [(payload["order_id"].encode(), payload, headers)]
        )

        async def delivered() -> bool:
            found = await deliveries_of(engine, endpoint_id)
            return bool(found) and found[0]["status"] == "succeeded"

        await wait_until(delivered, timeout_s=45, message="delivered")
    await bell.close()

    [call] = receiver.calls_to("/hook")
    assert call.verified
    [delivery] = await deliveries_of(engine, endpoint_id)
    assert call.headers["webhook-id"] == str(delivery["id"])
    assert call.headers["content-type"] == "application/json"
    assert str(delivery["event_id"]) == event_id
    body = call.json
    jsonschema.validate(
        body,
        resolved_schema(
            REPO / "contracts/openapi/gateway.v1.yaml", "components", "schemas", "WebhookMessage"
        ),
    )
    assert body["type"] == "order.placed"
    assert body["data"] == payload  # the event's v1 payload, as published
    EventContract.load(REPO / "contracts/asyncapi/orders.yaml").validate(
        "ordo.orders.order.placed.v1", None, body["data"]
    )
    [attempt] = delivery["attempts"]
    assert (attempt["number"], attempt["response_status"], attempt["error"]) == (1, 200, None)
    latency = (attempt["attempted_at"] - delivery["created_at"]).total_seconds()
    assert latency < 5, f"the worker took {latency:.1f}s: the doorbell did not wake it"
    [(ce_type, published, _headers)] = await outbox_rows(engine, delivery["id"])
    assert ce_type == SUCCEEDED
    assert published["response_status"] == 200


async def test_a_failing_receiver_is_retried_with_backoff_then_the_delivery_dies(
    notifications: NotificationsUseCases,
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, secret = await create_endpoint(notifications, org_id, receiver.url("/fail"))
    receiver.on("/fail", 500, secret=secret)
    settings = settings_for(migrated, delivery=fast_delivery(retry_schedule_s=[0.5, 1.0]))
    await schedule_placed(notifications, org_id)
    async with running_worker(settings):

        async def dead() -> bool:
            found = await deliveries_of(engine, endpoint_id)
            return bool(found) and found[0]["status"] == "failed"

        await wait_until(dead, timeout_s=30, message="delivery failed")

    calls = receiver.calls_to("/fail")
    assert len(calls) == 3  # the first attempt and two retries
    assert all(call.verified for call in calls)  # each attempt freshly signed
    assert len({call.headers["webhook-id"] for call in calls}) == 1  # stable across retries
    gaps = [b.received_at - a.received_at for a, b in zip(calls, calls[1:], strict=False)]
    # 0.5 s then 1 s, each within 20 % jitter (plus a little scheduling slack, never less).
    assert 0.5 * 0.8 - 0.02 <= gaps[0] <= 0.5 * 1.2 + 0.5, gaps
    assert 1.0 * 0.8 - 0.02 <= gaps[1] <= 1.0 * 1.2 + 0.5, gaps
    [delivery] = await deliveries_of(engine, endpoint_id)
    assert (delivery["attempt_count"], delivery["next_attempt_at"]) == (3, None)
    assert [a["response_status"] for a in delivery["attempts"]] == [500, 500, 500]
    assert {a["error"] for a in delivery["attempts"]} == {"http_status"}
    [(ce_type, published, _headers)] = await outbox_rows(engine, delivery["id"])
    assert ce_type == FAILED
    assert (published["attempts"], published["last_response_status"], published["last_error"]) == (
        3,
        500,
        "http_status",
    )


async def test_every_attempt_joins_the_trace_of_the_event_that_scheduled_it(
    notifications: NotificationsUseCases,
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("notifications-tests", "0.0.0", None, exporter=exporter)
    endpoint_id, secret = await create_endpoint(notifications, org_id, receiver.url("/traced"))
    receiver.on("/traced", 500, secret=secret)
    settings = settings_for(migrated, delivery=fast_delivery(retry_schedule_s=[0.2]))
    with trace.get_tracer(__name__).start_as_current_span("orders.events process") as scheduling:
        await schedule_placed(notifications, org_id)
    async with running_worker(settings):

        async def dead() -> bool:
            found = await deliveries_of(engine, endpoint_id)
            return bool(found) and found[0]["status"] == "failed"

        await wait_until(dead, timeout_s=30, message="delivery failed")

    [delivery] = await deliveries_of(engine, endpoint_id)
    attempts = [
        span
        for span in exporter.get_finished_spans()
        if span.name == "webhook.deliver"
        and span.attributes is not None
        and span.attributes.get("webhook.delivery.id") == str(delivery["id"])
    ]
    expected = scheduling.get_span_context()
    assert len(attempts) == 2  # the first attempt and its one retry, seconds apart
    for span in attempts:
        assert span.context.trace_id == expected.trace_id
        assert span.parent is not None
        assert span.parent.span_id == expected.span_id
        assert span.attributes is not None
        assert span.attributes["http.response.status_code"] == 500
        assert span.status.status_code is StatusCode.ERROR


async def test_one_bad_endpoint_does_not_slow_a_good_one(
    notifications: NotificationsUseCases,
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    bad, bad_secret = await create_endpoint(notifications, org_id, receiver.url("/hang"))
    good, good_secret = await create_endpoint(notifications, org_id, receiver.url("/ok"))
    receiver.on("/hang", 200, delay_s=5.0, secret=bad_secret)  # never within the 1 s timeout
    receiver.on("/ok", 204, secret=good_secret)
    await schedule_placed(notifications, org_id, count=8)
    settings = settings_for(
        migrated,
        delivery=fast_delivery(
            concurrency=4, per_endpoint_concurrency=2, breaker_fail_max=2, retry_schedule_s=[30.0]
        ),
    )
    metrics = Metrics(CollectorRegistry())
    started = time.monotonic()
    async with running_worker(settings, metrics=metrics):

        async def good_done() -> bool:
            found = await deliveries_of(engine, good)
            return len(found) == 8 and all(d["status"] == "succeeded" for d in found)

        await wait_until(good_done, timeout_s=30, message="good endpoint served")
        good_took = time.monotonic() - started

        async def bad_tried() -> bool:
            return all(d["attempt_count"] == 1 for d in await deliveries_of(engine, bad))

        await wait_until(bad_tried, timeout_s=30, message="every bad delivery tried once")

    # Serially, 8 timeouts of 1 s would come first; the good endpoint never waited for them.
    assert good_took < 4, f"the good endpoint waited {good_took:.1f}s"
    assert all(call.verified for call in receiver.calls_to("/ok"))
    # Its two slots' attempts timed out, the breaker opened (fail_max 2) and the rest were
    # postponed without a call (a third call can slip in while the second failure is counted).
    calls = len(receiver.calls_to("/hang"))
    assert 2 <= calls <= 3
    errors = sorted(d["attempts"][0]["error"] for d in await deliveries_of(engine, bad))
    assert errors == ["circuit_open"] * (8 - calls) + ["timeout"] * calls
    postponed = [
        d for d in await deliveries_of(engine, bad) if d["attempts"][0]["error"] == "circuit_open"
    ]
    for delivery in postponed:
        assert delivery["status"] == "retrying"
        assert delivery["attempts"][0]["duration_ms"] == 0
        wait = (
            delivery["next_attempt_at"] - delivery["attempts"][0]["attempted_at"]
        ).total_seconds()
        assert wait > 20  # until the circuit may let a trial call through, not sooner
    state = metrics.registry.get_sample_value("breaker_state", {"name": f"webhook-endpoint:{bad}"})
    assert state == 2  # open
    good_state = metrics.registry.get_sample_value(
        "breaker_state", {"name": f"webhook-endpoint:{good}"}
    )
    assert good_state == 0


async def test_410_gone_disables_the_endpoint_and_abandons_its_deliveries(
    notifications: NotificationsUseCases,
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    endpoint_id, secret = await create_endpoint(notifications, org_id, receiver.url("/gone"))
    receiver.on("/gone", 410, secret=secret)
    await schedule_placed(notifications, org_id, count=3)
    settings = settings_for(migrated, delivery=fast_delivery(per_endpoint_concurrency=1))
    async with running_worker(settings):

        async def ended() -> bool:
            found = await deliveries_of(engine, endpoint_id)
            return all(d["status"] == "failed" for d in found)

        await wait_until(ended, timeout_s=30, message="deliveries ended")

    assert len(receiver.calls_to("/gone")) == 1
    found = await deliveries_of(engine, endpoint_id)
    tried = [d for d in found if d["attempts"]]
    assert [a["response_status"] for d in tried for a in d["attempts"]] == [410]
    assert sum(1 for d in found if not d["attempts"]) == 2  # abandoned, never sent
    [(ce_type, published, _)] = await outbox_rows(engine, tried[0]["id"])
    assert (ce_type, published["last_response_status"]) == (FAILED, 410)
    endpoint = await notifications.get_webhook_endpoint(
        principal_of(org_id), org_id=org_id, endpoint_id=endpoint_id
    )
    assert endpoint.enabled is False
    await schedule_placed(notifications, org_id)
    assert len(await deliveries_of(engine, endpoint_id)) == 3  # none new for a disabled endpoint


async def test_two_workers_never_send_the_same_delivery_twice(
    notifications: NotificationsUseCases,
    engine: AsyncEngine,
    migrated: DatabaseSettings,
    receiver: Receiver,
    org_id: uuid.UUID,
) -> None:
    endpoints = [
        await create_endpoint(notifications, org_id, receiver.url(f"/w{i}")) for i in range(3)
    ]
    for i, (_, secret) in enumerate(endpoints):
        receiver.on(f"/w{i}", 204, delay_s=0.02, secret=secret)
    await schedule_placed(notifications, org_id, count=15)
    settings = settings_for(
        migrated, delivery=fast_delivery(concurrency=4, per_endpoint_concurrency=2)
    )
    async with running_worker(settings), running_worker(settings):

        async def all_delivered() -> bool:
            for endpoint_id, _ in endpoints:
                found = await deliveries_of(engine, endpoint_id)
                if len(found) != 15 or any(d["status"] != "succeeded" for d in found):
                    return False
            return True

        await wait_until(all_delivered, timeout_s=60, message="45 deliveries")
        await asyncio.sleep(0.3)  # a duplicate would arrive now, if there were one

    ids = [call.headers["webhook-id"] for call in receiver.calls]
    assert len(ids) == 45
    assert len(set(ids)) == 45
    assert all(call.verified for call in receiver.calls)
    for endpoint_id, _ in endpoints:
        assert all(d["attempt_count"] == 1 for d in await deliveries_of(engine, endpoint_id))
