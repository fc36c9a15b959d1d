"""The consumer on real Kafka and PostgreSQL: one delivery per subscribed endpoint and event,
however often the event arrives; saga commands skipped; bad events dead-lettered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications.adapters.messaging.handlers import (
    build_order_handlers,
    build_payment_handlers,
)
from notifications.application.facade import NotificationsUseCases
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveriesInput
from notifications.bootstrap import unit_of_work_factory
from notifications.domain.values import WebhookEventType
from shared.inbox import ensure_inbox_topics, parse_dead_letter
from shared.inbox.testing import (
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.messaging import delete_topics
from shared.observability.metrics import Metrics
from shared.settings import KafkaSettings
from shared.testing.plugin import NewTopic

from .conftest import create_endpoint, deliveries_of, order_placed

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("quiet_deliveries")]


async def _topic(new_topic: NewTopic, kafka: KafkaSettings, group: str) -> tuple[str, list[str]]:
    name = await new_topic(partitions=3)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, group, partitions=3)
    return name, twins


@pytest.fixture
async def topics(
    new_topic: NewTopic, kafka: KafkaSettings, kafka_group: str
) -> AsyncIterator[tuple[str, str]]:
    """Stand-ins for ``orders.events`` and ``payments.events`` with their retry and DLQ twins."""
    orders, order_twins = await _topic(new_topic, kafka, kafka_group)
    payments, payment_twins = await _topic(new_topic, kafka, kafka_group)
    yield orders, payments
    await delete_topics(kafka.bootstrap_servers, order_twins + payment_twins)


def payment_authorized(org_id: uuid.UUID, order_id: str) -> dict[str, object]:
    return {
        "payment_id": str(uuid.uuid4()),
        "order_id": order_id,
        "org_id": str(org_id),
        "causation_id": str(uuid.uuid4()),
        "amount": {"amount_minor": 4999, "currency": "EUR"},
        "provider": "fake",
        "provider_reference": "ref-1",
        "attempts": 1,
        "authorized_at": "2026-11-26T12:00:05Z",
    }


async def test_each_event_is_scheduled_once_per_subscribed_endpoint(
    notifications: NotificationsUseCases,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    kafka: KafkaSettings,
    topics: tuple[str, str],
    kafka_group: str,
    org_id: uuid.UUID,
) -> None:
    orders_topic, payments_topic = topics
    orders_only, _ = await create_endpoint(
        notifications, org_id, "https://orders.example.com/", ["order.placed"]
    )
    both, _ = await create_endpoint(
        notifications,
        org_id,
        "https://both.example.com/",
        ["order.placed", "payment.authorized"],
    )
    elsewhere, _ = await create_endpoint(
        notifications, uuid.uuid4(), "https://other-org.example.com/", ["order.placed"]
    )
    org = {"ce_orgid": str(org_id)}
    placed = order_placed(org_id)
    key = placed["order_id"].encode()
    placed_headers = cloud_event_headers("ordo.orders.order.placed.v1", extra=org)
    paid = payment_authorized(org_id, placed["order_id"])
    await publish_records(
        kafka,
        orders_topic,
        [
            (key, placed, placed_headers),
            (key, placed, placed_headers),  # redelivered: the same ce_id
            (
                key,
                {"order_id": placed["order_id"], "org_id": str(org_id)},
                cloud_event_headers("ordo.orders.order.payment_requested.v1", extra=org),
            ),
            (
                key,
                placed | {"org_id": str(uuid.uuid4())},  # the envelope names another org
                cloud_event_headers("ordo.orders.order.placed.v1", extra=org),
            ),
            (key, placed, cloud_event_headers("ordo.orders.order.shipped.v1", extra=org)),
        ],
    )
    await publish_records(
        kafka,
        payments_topic,
        [(key, paid, cloud_event_headers("ordo.payments.payment.authorized.v1", extra=org))],
    )
    metrics = Metrics(CollectorRegistry())
    uow = unit_of_work_factory(sessions)
    async with (
        running_consumer(
            kafka,
            topic=orders_topic,
            group=kafka_group,
            handlers=build_order_handlers(notifications),
            unit_of_work=uow,
            metrics=metrics,
        ),
        running_consumer(
            kafka,
            topic=payments_topic,
            group=kafka_group,
            handlers=build_payment_handlers(notifications),
            unit_of_work=uow,
            metrics=metrics,
        ),
    ):

        def outcomes(topic: str, outcome: str) -> float:
            value = metrics.registry.get_sample_value(
                "consumer_handle_duration_seconds_count",
                {"topic": topic, "group": kafka_group, "outcome": outcome},
            )
            return value or 0

        async def settled() -> bool:
            return (
                outcomes(orders_topic, "ok") == 1
                and outcomes(orders_topic, "ignored") == 1  # a saga command: no transaction
                and outcomes(orders_topic, "duplicate") == 1
                and outcomes(orders_topic, "dead_letter") == 2
                and outcomes(payments_topic, "ok") == 1
            )

        await wait_until(settled, timeout_s=45, message="six records handled")

    [order_delivery] = await deliveries_of(engine, orders_only)
    assert (order_delivery["event_type"], order_delivery["status"]) == ("order.placed", "pending")
    assert str(order_delivery["event_id"]) == dict(placed_headers)["ce_id"].decode()
    types = sorted(d["event_type"] for d in await deliveries_of(engine, both))
    assert types == ["order.placed", "payment.authorized"]
    assert await deliveries_of(engine, elsewhere) == []

    dead = await read_topic(kafka.bootstrap_servers, f"{orders_topic}.dlq", expected=2)
    letters = [parse_dead_letter(record.headers) for record in dead]
    reasons = sorted(letter.error_code for letter in letters if letter is not None)
    assert reasons == ["message.unknown_type", "validation.failed"]


async def test_the_database_keeps_one_delivery_per_endpoint_and_event(
    notifications: NotificationsUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    endpoint_id, _ = await create_endpoint(notifications, org_id, "https://a.example.com/")
    event = ScheduleDeliveriesInput(
        org_id=org_id,
        event_id=uuid.uuid4(),
        event_type=WebhookEventType.ORDER_PLACED,
        occurred_at=datetime.now(UTC),
        data=order_placed(org_id),
    )
    assert await notifications.schedule_deliveries(event) == 1
    assert await notifications.schedule_deliveries(event) == 0  # e.g. a replayed dead letter
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM webhook_deliveries WHERE endpoint_id = :e"),
            {"e": endpoint_id},
        )
    assert count == 1
