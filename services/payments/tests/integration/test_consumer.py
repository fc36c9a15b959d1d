"""The saga handlers behind the real idempotent consumer: Kafka in, payments recorded in the inbox
transaction, the worker woken by NOTIFY (its polling is made too slow to matter), bad messages
dead-lettered with their reason."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.messaging.handlers import (
    ORDER_CANCEL_REQUESTED,
    ORDER_PAYMENT_REQUESTED,
    build_handlers,
)
from payments.adapters.persistence.wakeup import worker_doorbell
from payments.bootstrap import WorkerSettings, bootstrap, unit_of_work_factory
from shared.inbox import RedeliveryPolicy, dead_letter_topic, ensure_inbox_topics
from shared.inbox.testing import (
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.messaging import delete_topics
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import NewTopic

from .conftest import (
    Provider,
    fast_settings,
    outbox_types,
    payment_row,
    running_worker,
    wait_for_status,
)

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


def requested(order: uuid.UUID, org_id: uuid.UUID, amount: int = 2500) -> dict[str, object]:
    return {
        "order_id": str(order),
        "org_id": str(org_id),
        "order_version": 3,
        "reservation_id": str(uuid.uuid4()),
        "amount": {"amount_minor": amount, "currency": "EUR"},
        "requested_at": "2026-11-26T12:00:00Z",
    }


async def test_order_events_drive_payments_once_and_notify_wakes_the_worker(
    migrated: DatabaseSettings,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    kafka: KafkaSettings,
    orders_topic: str,
    kafka_group: str,
    provider: Provider,
    org_id: uuid.UUID,
) -> None:
    paid, cancelled, early = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    org = {"ce_orgid": str(org_id)}
    ask_paid = cloud_event_headers(ORDER_PAYMENT_REQUESTED, extra=org)
    cancel = cloud_event_headers(ORDER_CANCEL_REQUESTED, extra=org)
    cancel_body = {
        "org_id": str(org_id),
        "order_version": 4,
        "reason": "customer_requested",
        "requested_by": None,
        "requested_at": "2026-11-26T12:00:01Z",
    }
    bell = worker_doorbell(migrated, application_name="payments-tests-consumer-wake")
    uow = unit_of_work_factory(sessions, None, bell)
    settings = fast_settings(migrated, provider.url).model_copy(
        update={"worker": WorkerSettings(concurrency=8, poll_interval_s=60, lease_s=3)}
    )
    consumer_metrics = Metrics(CollectorRegistry())
    try:
        async with running_worker(settings, Metrics(CollectorRegistry())) as worker:
            assert worker.listener is not None
            notified = worker.listener.notifications
            async with running_consumer(
                kafka,
                topic=orders_topic,
                group=kafka_group,
                handlers=build_handlers(bootstrap(uow=uow)),
                unit_of_work=uow,
                metrics=consumer_metrics,
                policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
            ):
                started = time.monotonic()
                await publish_records(
                    kafka,
                    orders_topic,
                    [
                        (str(early).encode(), cancel_body | {"order_id": str(early)}, cancel),
                        (
                            str(early).encode(),
                            requested(early, org_id),
                            cloud_event_headers(ORDER_PAYMENT_REQUESTED, extra=org),
                        ),
                        (str(paid).encode(), requested(paid, org_id), ask_paid),  # redelivered
                        (str(paid).encode(), requested(paid, org_id), ask_paid),
                        (
                            str(cancelled).encode(),
                            requested(cancelled, org_id),
                            cloud_event_headers(ORDER_PAYMENT_REQUESTED, extra=org),
                        ),
                    ],
                )
                # Polling waits 60 s: only the NOTIFY after the consumer's commit is this fast.
                await wait_for_status(engine, paid, "authorized", timeout_s=15)
                await wait_for_status(engine, cancelled, "authorized", timeout_s=15)
                assert time.monotonic() - started < 15
                assert worker.listener.notifications > notified
                await publish_records(
                    kafka,
                    orders_topic,
                    [
                        (
                            str(cancelled).encode(),
                            cancel_body | {"order_id": str(cancelled)},
                            cloud_event_headers(ORDER_CANCEL_REQUESTED, extra=org),
                        )
                    ],
                )
                await wait_for_status(engine, cancelled, "voided", timeout_s=15)

                async def settled() -> bool:
                    duplicates = consumer_metrics.registry.get_sample_value(
                        "consumer_handle_duration_seconds_count",
                        {"topic": orders_topic, "group": kafka_group, "outcome": "duplicate"},
                    )
                    return duplicates == 1

                await wait_until(settled, message="the redelivered request skipped")
    finally:
        await bell.close()
    assert await payment_row(engine, early) is None  # cancelled before it was asked
    assert await outbox_types(engine, paid) == ["ordo.payments.payment.authorized.v1"]
    assert await outbox_types(engine, cancelled) == [
        "ordo.payments.payment.authorized.v1",
        "ordo.payments.payment.voided.v1",
    ]
    assert len(await provider.authorizations(str(paid))) == 1


async def test_a_bad_payment_request_is_dead_lettered_with_its_reason(
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
    kafka: KafkaSettings,
    orders_topic: str,
    kafka_group: str,
    org_id: uuid.UUID,
) -> None:
    uow = unit_of_work_factory(sessions)
    order = uuid.uuid4()
    bad = requested(order, org_id, amount=-5)
    other_org = requested(uuid.uuid4(), org_id)
    headers = cloud_event_headers(ORDER_PAYMENT_REQUESTED, extra={"ce_orgid": str(org_id)})
    mismatched = cloud_event_headers(ORDER_PAYMENT_REQUESTED, extra={"ce_orgid": str(uuid.uuid4())})
    await publish_records(
        kafka,
        orders_topic,
        [(str(order).encode(), bad, headers), (b"x", other_org, mismatched)],
    )
    async with running_consumer(
        kafka,
        topic=orders_topic,
        group=kafka_group,
        handlers=build_handlers(bootstrap(uow=uow)),
        unit_of_work=uow,
        metrics=Metrics(CollectorRegistry()),
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
    ):
        letters = await read_topic(
            kafka.bootstrap_servers, dead_letter_topic(orders_topic), expected=2, timeout_s=30
        )
    reasons = sorted(
        (dict(letter.headers)["ordo-dlq-error-code"], dict(letter.headers)["ordo-dlq-reason"])
        for letter in letters
    )
    assert reasons == [(b"validation.failed", b"permanent")] * 2
    assert await payment_row(engine, order) is None
