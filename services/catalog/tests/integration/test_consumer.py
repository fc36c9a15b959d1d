"""The saga handlers behind the real idempotent consumer: Kafka in, PostgreSQL + outbox out."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.adapters.messaging.handlers import (
    ORDER_CANCEL_REQUESTED,
    ORDER_CONFIRMED,
    ORDER_PLACED,
    build_handlers,
)
from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.bootstrap import unit_of_work_factory
from catalog.domain.model import Money
from shared.inbox import RedeliveryPolicy, ensure_inbox_topics
from shared.inbox.testing import cloud_event_headers, publish_records, running_consumer, wait_until
from shared.messaging import delete_topics
from shared.observability.metrics import Metrics
from shared.settings import KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import NewTopic

from .conftest import outbox_types, principal_of

pytestmark = pytest.mark.integration


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    """The local broker."""
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)


@pytest.fixture
async def orders_topic(
    new_topic: NewTopic, kafka: KafkaSettings, kafka_group: str
) -> AsyncIterator[str]:
    """A stand-in for ``orders.events``, with the group's retry lane and dead-letter topic."""
    name = await new_topic(partitions=3)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, kafka_group, partitions=3)
    yield name
    await delete_topics(kafka.bootstrap_servers, twins)


async def test_each_order_event_is_applied_once_however_often_it_arrives(
    catalog: CatalogUseCases,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    kafka: KafkaSettings,
    orders_topic: str,
    kafka_group: str,
    org_id: uuid.UUID,
) -> None:
    writer = principal_of(org_id)
    product = await catalog.create_product(
        writer, CreateProductInput(org_id, "SAGA-1", "Saga", Money(250, "EUR"))
    )
    await catalog.change_stock.set(writer, org_id=org_id, sku=product.sku, on_hand=10)
    kept, cancelled = uuid.uuid4(), uuid.uuid4()
    org = {"ce_orgid": str(org_id)}

    def placed(order: uuid.UUID) -> dict[str, object]:
        return {
            "order_id": str(order),
            "org_id": str(org_id),
            "order_version": 1,
            "placed_by": str(uuid.uuid4()),
            "currency": "EUR",
            "lines": [{"sku": "SAGA-1", "quantity": 3}],
            "placed_at": "2026-11-26T12:00:00Z",
        }

    placed_kept = cloud_event_headers(ORDER_PLACED, extra=org)
    cancel = cloud_event_headers(ORDER_CANCEL_REQUESTED, extra=org)
    confirm = cloud_event_headers(ORDER_CONFIRMED, extra=org)
    ref = {"org_id": str(org_id), "order_version": 2}
    await publish_records(
        kafka,
        orders_topic,
        [
            (str(kept).encode(), placed(kept), placed_kept),
            (str(kept).encode(), placed(kept), placed_kept),  # redelivered: same ce_id
            (str(cancelled).encode(), placed(cancelled), cloud_event_headers(ORDER_PLACED)),
            (str(cancelled).encode(), ref | {"order_id": str(cancelled)}, cancel),
            (str(cancelled).encode(), ref | {"order_id": str(cancelled)}, cancel),
            (str(kept).encode(), ref | {"order_id": str(kept)}, confirm),
            (str(kept).encode(), ref | {"order_id": str(kept)}, confirm),
        ],
    )
    metrics = Metrics(CollectorRegistry())
    async with running_consumer(
        kafka,
        topic=orders_topic,
        group=kafka_group,
        handlers=build_handlers(catalog),
        unit_of_work=unit_of_work_factory(sessions),
        metrics=metrics,
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
    ):

        async def settled() -> bool:
            duplicates = metrics.registry.get_sample_value(
                "consumer_handle_duration_seconds_count",
                {"topic": orders_topic, "group": kafka_group, "outcome": "duplicate"},
            )
            return duplicates == 3

        await wait_until(settled, message="three duplicates skipped")

        async def answered() -> bool:
            return len(await outbox_types(engine, kept)) == 2

        await wait_until(answered, message="kept order answered twice")

    assert await outbox_types(engine, kept) == [
        "ordo.catalog.stock.reserved.v1",
        "ordo.catalog.stock.committed.v1",
    ]
    assert await outbox_types(engine, cancelled) == [
        "ordo.catalog.stock.reserved.v1",
        "ordo.catalog.stock.released.v1",
    ]
    _, stock = await catalog.get_product(writer, org_id=org_id, product_id=product.id)
    assert (stock.on_hand, stock.reserved) == (7, 0)
