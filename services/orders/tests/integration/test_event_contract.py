"""Every kind of outbox row orders writes validates against contracts/asyncapi/orders.yaml
(payload, ce_type, ce_source, tenant, key = order id), through the real use cases."""

from __future__ import annotations

import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orders.adapters.messaging.events import EVENT_TYPES, SOURCE, TOPIC
from orders.application.use_cases.cancel_order import CancelOrderInput
from orders.application.use_cases.on_payment_authorized import PaymentAuthorizedInput
from orders.application.use_cases.on_payment_failed import PaymentFailedInput
from orders.application.use_cases.on_stock_rejected import StockRejectedInput
from orders.application.use_cases.on_stock_released import StockReleasedInput
from orders.application.use_cases.on_stock_reserved import StockReservedInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.bootstrap import build_use_cases
from orders.domain.events import OrderConfirmed, OrderPlaced
from orders.domain.model import Order
from orders.domain.values import Money, OrderLine, RejectedLine
from shared.clock import FrozenClock
from shared.testing.asyncapi import EventContract

from .conftest import principal_of

pytestmark = pytest.mark.integration

ASYNCAPI = Path(__file__).resolve().parents[4] / "contracts" / "asyncapi"


async def test_every_order_event_matches_the_contract(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    contract = EventContract.load(ASYNCAPI / "orders.yaml")
    sent = {ce_type for ce_type in contract.messages if ce_type.startswith("ordo.orders.")}
    assert sent == set(EVENT_TYPES.values())

    clock = FrozenClock()
    orders = build_use_cases(sessions, clock=clock)
    buyer = principal_of(org_id)

    async def place() -> Order:
        lines = [OrderLine("EV-1", 2), OrderLine("EV-2", 1)]
        result = await orders.place_order(
            buyer, PlaceOrderInput(org_id, "EUR", lines, str(uuid.uuid4()))
        )
        assert result.order is not None
        return result.order

    def reserved(order: Order) -> StockReservedInput:
        return StockReservedInput(
            org_id,
            order.id,
            uuid.uuid4(),
            [
                OrderLine("EV-2", 1, uuid.uuid4(), Money(999, "EUR")),
                OrderLine("EV-1", 2, uuid.uuid4(), Money(1999, "EUR")),
            ],
            Money(4997, "EUR"),
        )

    confirmed, rejected, cancelled, failed, timed_out, free = [await place() for _ in range(6)]
    await orders.on_stock_reserved(reserved(confirmed))
    # Nothing to pay: confirmed at once, with no payment (payment_id null in the contract).
    await orders.on_stock_reserved(
        StockReservedInput(
            org_id,
            free.id,
            uuid.uuid4(),
            [
                OrderLine("EV-2", 1, uuid.uuid4(), Money(0, "EUR")),
                OrderLine("EV-1", 2, uuid.uuid4(), Money(0, "EUR")),
            ],
            Money(0, "EUR"),
        )
    )
    await orders.on_payment_authorized(
        PaymentAuthorizedInput(org_id, confirmed.id, uuid.uuid4(), Money(4997, "EUR"))
    )
    await orders.on_stock_rejected(
        StockRejectedInput(org_id, rejected.id, "unknown_sku", [RejectedLine("EV-2", 1, None)])
    )
    await orders.cancel_order(buyer, CancelOrderInput(org_id, cancelled.id, "bye"))
    await orders.on_stock_released(StockReleasedInput(org_id, cancelled.id))
    await orders.on_stock_reserved(reserved(failed))
    await orders.on_payment_failed(PaymentFailedInput(org_id, failed.id, uuid.uuid4()))
    clock.advance(timedelta(hours=1))
    await orders.sweep_deadlines(batch=1000)  # the stock step of timed_out is long over

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT topic, key, headers, payload FROM outbox "
                    "WHERE payload->>'org_id' = :org ORDER BY seq"
                ),
                {"org": str(org_id)},
            )
        ).all()
    seen = set()
    for topic, key, headers, payload in rows:
        ce_type = headers["ce_type"]
        contract.validate(ce_type, headers, payload)
        assert (topic, key, headers["ce_subject"]) == (TOPIC, payload["order_id"], key)
        assert (headers["ce_source"], headers["ce_orgid"]) == (SOURCE, str(org_id))
        assert headers["content-type"] == "application/json"
        seen.add(ce_type)
    assert seen == set(EVENT_TYPES.values())
    reasons = {p["reason"] for _, _, h, p in rows if h["ce_type"].endswith("cancel_requested.v1")}
    assert reasons >= {"customer_requested", "payment_failed", "stock_timeout"}
    assert timed_out.id in {uuid.UUID(p["order_id"]) for *_, p in rows}
    free_events = [(h["ce_type"], p) for _, _, h, p in rows if p["order_id"] == str(free.id)]
    assert [ce_type for ce_type, _ in free_events] == [
        EVENT_TYPES[OrderPlaced],
        EVENT_TYPES[OrderConfirmed],
    ]
    assert free_events[1][1]["payment_id"] is None
