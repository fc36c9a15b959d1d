"""The saga consumer as ``ordo-orders-consumer`` wires it (two idempotent consumers,
group ``orders``): real catalog and payments records in, orders and outbox rows out.

Every record published here is first validated against catalog's or payments' contract, so the
test feeds the consumer what those services really send.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.adapters.messaging.handlers import (
    PAYMENT_AUTHORIZATION_DEFERRED,
    PAYMENT_AUTHORIZED,
    PAYMENT_FAILED,
    STOCK_REJECTED,
    STOCK_RELEASED,
    STOCK_RESERVED,
)
from orders.application.facade import OrdersUseCases
from orders.application.use_cases.cancel_order import CancelOrderInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.bootstrap import OrdersSettings, build_consumer
from orders.domain.model import Order
from orders.domain.values import OrderLine
from shared.inbox import RedeliveryPolicy, ensure_inbox_topics, parse_dead_letter
from shared.inbox.testing import cloud_event_headers, publish_records, read_topic, wait_until
from shared.messaging import delete_topics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing.asyncapi import EventContract
from shared.testing.plugin import NewTopic

from .conftest import outbox_types, principal_of

pytestmark = pytest.mark.integration

CONTRACT = EventContract.load_dir(
    Path(__file__).resolve().parents[4] / "contracts" / "asyncapi", ["catalog", "payments"]
)
PRICE = 750  # per unit; every order here is 2 x SKU "C-1"
Record = tuple[bytes, dict[str, Any], list[tuple[str, bytes]]]


def _iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


def record(
    ce_type: str, order: Order, payload: dict[str, Any], *, event_id: str | None = None
) -> Record:
    """A record as catalog's or payments' relay writes it, its payload checked by contract."""
    body = {"order_id": str(order.id), "org_id": str(order.org_id)} | payload
    CONTRACT.validate(ce_type, None, body)
    headers = cloud_event_headers(ce_type, event_id=event_id, extra={"ce_orgid": str(order.org_id)})
    return str(order.id).encode(), body, headers


def money(amount: int) -> dict[str, Any]:
    return {"amount_minor": amount, "currency": "EUR"}


def stock_reserved(order: Order, *, event_id: str | None = None) -> Record:
    line = {
        "product_id": str(uuid.uuid4()),
        "sku": "C-1",
        "quantity": 2,
        "unit_price": money(PRICE),
        "line_total": money(2 * PRICE),
    }
    return record(
        STOCK_RESERVED,
        order,
        {
            "reservation_id": str(uuid.uuid4()),
            "causation_id": str(uuid.uuid4()),
            "lines": [line],
            "total": money(2 * PRICE),
            "reserved_at": _iso(),
        },
        event_id=event_id,
    )


def stock_rejected(order: Order) -> Record:
    return record(
        STOCK_REJECTED,
        order,
        {
            "causation_id": str(uuid.uuid4()),
            "reason": "out_of_stock",
            "rejected_lines": [{"sku": "C-1", "requested": 2, "available": 1}],
            "rejected_at": _iso(),
        },
    )


def stock_released(order: Order) -> Record:
    return record(
        STOCK_RELEASED,
        order,
        {
            "reservation_id": None,
            "causation_id": str(uuid.uuid4()),
            "lines": [],
            "released_at": _iso(),
        },
    )


def payment(ce_type: str, order: Order, *, event_id: str | None = None) -> Record:
    common = {"payment_id": str(uuid.uuid4()), "causation_id": str(uuid.uuid4())}
    if ce_type == PAYMENT_AUTHORIZED:
        extra = {
            "amount": money(2 * PRICE),
            "provider": "fakepay",
            "provider_reference": "auth_1",
            "attempts": 1,
            "authorized_at": _iso(),
        }
    else:
        extra = {
            "amount": money(2 * PRICE),
            "reason": "declined",
            "provider_code": "card_declined",
            "attempts": 1,
            "failed_at": _iso(),
        }
    return record(ce_type, order, common | extra, event_id=event_id)


def deferred(order: Order, next_attempt_at: datetime) -> Record:
    return record(
        PAYMENT_AUTHORIZATION_DEFERRED,
        order,
        {
            "payment_id": str(uuid.uuid4()),
            "reason": "circuit_open",
            "attempts": 0,
            "next_attempt_at": _iso(next_attempt_at),
            "deferred_at": _iso(),
        },
    )


@pytest.fixture
async def topics(
    new_topic: NewTopic, kafka: KafkaSettings, kafka_group: str
) -> AsyncIterator[tuple[str, str]]:
    """Stand-ins for ``catalog.events`` and ``payments.events``, with the group's retry lanes and
    dead-letter topics."""
    catalog, payments = await new_topic(partitions=3), await new_topic(partitions=3)
    twins = []
    for topic in (catalog, payments):
        twins += await ensure_inbox_topics(
            kafka.bootstrap_servers, topic, kafka_group, partitions=3
        )
    yield catalog, payments
    await delete_topics(kafka.bootstrap_servers, twins)


@pytest.fixture
async def consumer(
    migrated: DatabaseSettings, kafka: KafkaSettings, topics: tuple[str, str], kafka_group: str
) -> AsyncIterator[None]:
    """``build_consumer`` running on the test topics (its health app's lifespan included)."""
    settings = OrdersSettings(
        environment="test",
        database=migrated,
        kafka=kafka,
        catalog_topic=topics[0],
        payments_topic=topics[1],
        consumer_group=kafka_group,
        consumer_max_workers=1,
    )
    process = build_consumer(settings, policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1))
    assert [c.topic for c in process.consumers] == list(topics)
    async with LifespanManager(process.health):
        await process.start()
        try:
            yield
        finally:
            await process.stop()


async def place(orders: OrdersUseCases, org_id: uuid.UUID) -> Order:
    result = await orders.place_order(
        principal_of(org_id),
        PlaceOrderInput(org_id, "EUR", [OrderLine("C-1", 2)], str(uuid.uuid4())),
    )
    assert result.order is not None
    return result.order


async def status_of(engine: AsyncEngine, order: Order) -> str:
    async with engine.connect() as conn:
        return str(
            await conn.scalar(text("SELECT status FROM orders WHERE id = :i"), {"i": order.id})
        )


async def reach(engine: AsyncEngine, order: Order, status: str) -> None:
    async def there() -> bool:
        return await status_of(engine, order) == status

    await wait_until(there, message=f"order {order.id} {status}")


async def test_the_saga_through_to_confirmed_rejected_and_cancelled(
    consumer: None,
    orders: OrdersUseCases,
    engine: AsyncEngine,
    kafka: KafkaSettings,
    topics: tuple[str, str],
    org_id: uuid.UUID,
) -> None:
    catalog, payments = topics
    confirmed, rejected, cancelled, failed = [await place(orders, org_id) for _ in range(4)]
    await orders.cancel_order(
        principal_of(org_id), CancelOrderInput(org_id, cancelled.id, "not needed")
    )
    reserved_once = stock_reserved(confirmed)
    await publish_records(
        kafka,
        catalog,
        [
            reserved_once,
            reserved_once,  # redelivered: the same ce_id
            stock_reserved(confirmed),  # catalog answering again: another ce_id, ignored
            stock_rejected(rejected),
            stock_rejected(rejected),
            stock_reserved(cancelled),  # late: the customer cancelled first
            stock_released(cancelled),
            stock_reserved(failed),
            record(
                "ordo.catalog.stock.committed.v1",
                confirmed,
                {
                    "reservation_id": str(uuid.uuid4()),
                    "causation_id": str(uuid.uuid4()),
                    "lines": [{"product_id": str(uuid.uuid4()), "sku": "C-1", "quantity": 2}],
                    "committed_at": _iso(),
                },
            ),  # not for orders: skipped
        ],
    )
    await reach(engine, confirmed, "awaiting_payment")
    await reach(engine, rejected, "rejected")
    await reach(engine, cancelled, "cancelled")
    await reach(engine, failed, "awaiting_payment")

    authorized = payment(PAYMENT_AUTHORIZED, confirmed)
    await publish_records(
        kafka,
        payments,
        [
            authorized,
            authorized,
            payment(PAYMENT_FAILED, confirmed),  # too late: confirmed is terminal
            payment(PAYMENT_FAILED, failed),
        ],
    )
    await reach(engine, confirmed, "confirmed")
    await reach(engine, failed, "cancelling")
    await publish_records(kafka, catalog, [stock_released(failed), stock_released(failed)])
    await reach(engine, failed, "cancelled")

    prefix = "ordo.orders.order."
    expected = {
        confirmed: ["placed", "payment_requested", "confirmed"],
        rejected: ["placed", "rejected"],
        cancelled: ["placed", "cancel_requested", "cancelled"],
        failed: ["placed", "payment_requested", "cancel_requested", "cancelled"],
    }
    for order, kinds in expected.items():

        async def settled(order: Order = order, kinds: list[str] = kinds) -> bool:
            return await outbox_types(engine, order.id) == [f"{prefix}{k}.v1" for k in kinds]

        await wait_until(settled, message=f"events of {order.id}")
    async with engine.connect() as conn:
        claimed = await conn.scalar(
            text("SELECT count(*) FROM inbox_messages WHERE event_id = :e"),
            {"e": dict(reserved_once[2])["ce_id"].decode()},
        )
    assert claimed == 1


async def test_a_deferral_moves_the_payment_deadline(
    consumer: None,
    orders: OrdersUseCases,
    engine: AsyncEngine,
    kafka: KafkaSettings,
    topics: tuple[str, str],
    org_id: uuid.UUID,
) -> None:
    order = await place(orders, org_id)
    await publish_records(kafka, topics[0], [stock_reserved(order)])
    await reach(engine, order, "awaiting_payment")
    next_attempt = datetime.now(UTC) + timedelta(seconds=90)
    await publish_records(kafka, topics[1], [deferred(order, next_attempt)])

    async def moved() -> bool:
        async with engine.connect() as conn:
            deadline = await conn.scalar(
                text("SELECT deadline_at FROM orders WHERE id = :i"), {"i": order.id}
            )
        return deadline is not None and deadline >= next_attempt + timedelta(seconds=59)

    await wait_until(moved, message="payment deadline extended")
    assert await status_of(engine, order) == "awaiting_payment"


async def test_bad_records_go_to_the_dead_letter_topic_with_their_reason(
    consumer: None,
    orders: OrdersUseCases,
    engine: AsyncEngine,
    kafka: KafkaSettings,
    topics: tuple[str, str],
    kafka_group: str,
    org_id: uuid.UUID,
) -> None:
    catalog, _ = topics
    order = await place(orders, org_id)
    ghost = Order(**{**order.__dict__, "id": uuid.uuid4(), "_events": []})
    no_lines_key, no_lines_body, no_lines_headers = stock_reserved(order)
    del no_lines_body["lines"]
    other_org_key, other_org_body, other_org_headers = stock_released(order)
    other_org_headers = [
        (name, str(uuid.uuid4()).encode() if name == "ce_orgid" else value)
        for name, value in other_org_headers
    ]
    await publish_records(
        kafka,
        catalog,
        [
            (no_lines_key, no_lines_body, no_lines_headers),
            stock_released(ghost),  # an order orders never had
            (other_org_key, other_org_body, other_org_headers),
            (str(order.id).encode(), b"{not json", cloud_event_headers(STOCK_RELEASED)),
            stock_reserved(order),  # valid traffic after them is applied
        ],
    )
    letters = await read_topic(kafka.bootstrap_servers, f"{catalog}.dlq", expected=4)
    parsed = [parse_dead_letter(list(letter.headers)) for letter in letters]
    assert all(p is not None and p.group == kafka_group for p in parsed)
    codes = sorted(p.error_code for p in parsed if p is not None)
    assert codes == sorted(
        ["validation.failed", "order.not_found", "validation.failed", "message.undecodable"]
    )
    assert {p.reason for p in parsed if p is not None} == {"permanent"}
    await reach(engine, order, "awaiting_payment")
