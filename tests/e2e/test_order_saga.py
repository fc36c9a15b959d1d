"""The order saga through the public /v1 API and the real topics: confirmed, rejected, isolation."""

from __future__ import annotations

import asyncio
import uuid

from ordo_client.api.orders import get_order, list_orders, place_order
from ordo_client.api.payments import get_order_payment
from ordo_client.api.stock import get_stock_level
from ordo_client.models import (
    Order,
    OrderLineRequest,
    OrderStatus,
    PaymentStatus,
    PlaceOrderRequest,
    StockLevel,
)

from .conftest import Tenant, TopicLog, eventually, ok

TERMINAL = {OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED}


def order_request(*lines: tuple[str, int]) -> PlaceOrderRequest:
    return PlaceOrderRequest(
        currency="EUR", lines=[OrderLineRequest(sku=sku, quantity=q) for sku, q in lines]
    )


async def place(tenant: Tenant, request: PlaceOrderRequest, key: str | None = None) -> Order:
    """Place an order as a careful client does: on 503/504 (outcome unknown) or 409 (its twin is
    still in flight), retry with the same Idempotency-Key; the order exists once either way."""
    key = key or str(uuid.uuid4())
    for attempt in range(8):
        response = await place_order.asyncio_detailed(
            client=tenant.client, body=request, idempotency_key=key
        )
        if response.status_code not in (409, 503, 504):
            break
        await asyncio.sleep(0.2 * 2**attempt)
    return ok(response, 201)


async def settled(tenant: Tenant, order_id: uuid.UUID, within: float = 30.0) -> Order:
    """Poll the order until it reaches a terminal state."""

    async def probe() -> Order | None:
        order: Order = ok(await get_order.asyncio_detailed(order_id, client=tenant.client))
        return order if order.status in TERMINAL else None

    return await eventually(probe, within=within)


async def stock_of(tenant: Tenant, sku: str) -> StockLevel:
    return ok(await get_stock_level.asyncio_detailed(sku, client=tenant.client))


async def test_an_order_is_confirmed_with_stock_committed_and_payment_authorized(
    tenant: Tenant, topic_log: TopicLog, event_contract
) -> None:
    await tenant.product("WIDGET-1", 1999, on_hand=10)
    await tenant.product("GADGET-1", 999, on_hand=5)

    placed = await place(tenant, order_request(("WIDGET-1", 2), ("GADGET-1", 1)))
    assert placed.status == OrderStatus.PENDING

    order = await settled(tenant, placed.id)
    assert order.status == OrderStatus.CONFIRMED, order.status_reason
    assert order.total is not None
    assert (order.total.amount_minor, order.total.currency) == (2 * 1999 + 999, "EUR")
    assert {(line.sku, line.line_total.amount_minor) for line in order.lines} == {
        ("WIDGET-1", 3998),
        ("GADGET-1", 999),
    }

    payment = ok(await get_order_payment.asyncio_detailed(placed.id, client=tenant.client))
    assert payment.status == PaymentStatus.AUTHORIZED
    assert payment.amount.amount_minor == 4997

    # The reservation is committed: on_hand drops, nothing stays reserved.
    async def committed() -> bool:
        widget = await stock_of(tenant, "WIDGET-1")
        return (widget.on_hand, widget.reserved, widget.available) == (8, 0, 8)

    await eventually(committed)
    gadget = await stock_of(tenant, "GADGET-1")
    assert (gadget.on_hand, gadget.reserved, gadget.available) == (4, 0, 4)

    # Every step of the saga went over the topics, in order, each record valid per AsyncAPI.
    expected = [
        "ordo.orders.order.placed.v1",
        "ordo.catalog.stock.reserved.v1",
        "ordo.orders.order.payment_requested.v1",
        "ordo.payments.payment.authorized.v1",
        "ordo.orders.order.confirmed.v1",
        "ordo.catalog.stock.committed.v1",
    ]

    async def all_seen() -> list[str] | None:
        seen = topic_log.types_for(placed.id)
        return seen if all(t in seen for t in expected) else None

    seen = await eventually(all_seen)
    assert [t for t in seen if t in expected] == expected
    for record in topic_log.for_key(placed.id):
        event_contract.validate(record.ce_type, record.headers, record.payload)


async def test_an_order_with_nothing_to_pay_is_confirmed_without_a_payment(
    tenant: Tenant, topic_log: TopicLog, event_contract
) -> None:
    await tenant.product("SAMPLE-1", 0, on_hand=3)

    placed = await place(tenant, order_request(("SAMPLE-1", 2)))
    order = await settled(tenant, placed.id)
    assert order.status == OrderStatus.CONFIRMED, order.status_reason
    assert order.total is not None
    assert order.total.amount_minor == 0
    missing = await get_order_payment.asyncio_detailed(placed.id, client=tenant.client)
    assert missing.status_code == 404  # no payment was ever asked for

    async def committed() -> bool:
        level = await stock_of(tenant, "SAMPLE-1")
        return (level.on_hand, level.reserved, level.available) == (1, 0, 1)

    await eventually(committed)
    expected = [
        "ordo.orders.order.placed.v1",
        "ordo.catalog.stock.reserved.v1",
        "ordo.orders.order.confirmed.v1",
        "ordo.catalog.stock.committed.v1",
    ]

    async def all_seen() -> list[str] | None:
        seen = topic_log.types_for(placed.id)
        return seen if all(t in seen for t in expected) else None

    seen = await eventually(all_seen)
    assert "ordo.orders.order.payment_requested.v1" not in seen
    for record in topic_log.for_key(placed.id):
        event_contract.validate(record.ce_type, record.headers, record.payload)
    [confirmed] = [r for r in topic_log.for_key(placed.id) if r.ce_type.endswith("confirmed.v1")]
    assert confirmed.payload["payment_id"] is None


async def test_an_order_beyond_stock_is_rejected_and_holds_nothing(tenant: Tenant) -> None:
    await tenant.product("SCARCE-1", 500, on_hand=1)
    await tenant.product("PLENTY-1", 500, on_hand=100)
    placed = await place(tenant, order_request(("SCARCE-1", 2), ("PLENTY-1", 1)))
    order = await settled(tenant, placed.id)
    assert order.status == OrderStatus.REJECTED
    for sku, on_hand in (("SCARCE-1", 1), ("PLENTY-1", 100)):
        level = await stock_of(tenant, sku)
        assert (level.on_hand, level.reserved, level.available) == (on_hand, 0, on_hand)


async def test_an_unknown_sku_is_rejected(tenant: Tenant) -> None:
    placed = await place(tenant, order_request(("NO-SUCH-SKU", 1)))
    assert (await settled(tenant, placed.id)).status == OrderStatus.REJECTED


async def test_the_same_idempotency_key_and_body_replays_the_original(tenant: Tenant) -> None:
    await tenant.product("IDEM-1", 100, on_hand=10)
    key, request = str(uuid.uuid4()), order_request(("IDEM-1", 1))
    first = await place_order.asyncio_detailed(
        client=tenant.client, body=request, idempotency_key=key
    )
    again = await place_order.asyncio_detailed(
        client=tenant.client, body=request, idempotency_key=key
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.headers.get("idempotent-replayed") in (None, "false")
    assert ok(again, 201).id == ok(first, 201).id

    other = await place_order.asyncio_detailed(
        client=tenant.client, body=order_request(("IDEM-1", 2)), idempotency_key=key
    )
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.parsed.code == "idempotency.key_reused"

    orders = ok(await list_orders.asyncio_detailed(client=tenant.client))
    assert [o.id for o in orders.items] == [first.parsed.id]


async def test_concurrent_twins_create_one_order(tenant: Tenant) -> None:
    await tenant.product("TWIN-1", 100, on_hand=100)
    key, request = str(uuid.uuid4()), order_request(("TWIN-1", 1))
    answers = await asyncio.gather(
        *(
            place_order.asyncio_detailed(client=tenant.client, body=request, idempotency_key=key)
            for _ in range(10)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = {a.parsed.id for a in answers if a.status_code == 201}
    assert len(created) == 1
    for answer in answers:
        if answer.status_code == 409:
            assert answer.parsed.code == "idempotency.in_progress"
    orders = ok(await list_orders.asyncio_detailed(client=tenant.client))
    assert [o.id for o in orders.items] == list(created)


async def test_bad_input_is_a_problem_and_creates_nothing(tenant: Tenant) -> None:
    http = tenant.client.get_async_httpx_client()
    bad_bodies = [
        {"currency": "EUR", "lines": []},
        {"currency": "euro", "lines": [{"sku": "A", "quantity": 1}]},
        {"currency": "EUR", "lines": [{"sku": "A", "quantity": 0}]},
        {"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}, {"sku": "A", "quantity": 2}]},
        {"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}], "extra": True},
    ]
    for body in bad_bodies:
        answer = await http.post("/v1/orders", json=body, headers={"Idempotency-Key": "k-" + "x"})
        assert answer.status_code in (400, 422), (body, answer.status_code, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert {"type", "title", "status", "code"} <= set(answer.json())
    missing_key = await http.post(
        "/v1/orders", json={"currency": "EUR", "lines": [{"sku": "A", "quantity": 1}]}
    )
    assert missing_key.status_code in (400, 422)
    orders = ok(await list_orders.asyncio_detailed(client=tenant.client))
    assert orders.items == []


async def test_no_tenant_sees_another_tenants_order(new_tenant) -> None:
    alice, mallory = await new_tenant(), await new_tenant()
    await alice.product("PRIVATE-1", 100, on_hand=5)
    order = await place(alice, order_request(("PRIVATE-1", 1)))
    peek = await get_order.asyncio_detailed(order.id, client=mallory.client)
    assert peek.status_code == 404
    payment = await get_order_payment.asyncio_detailed(order.id, client=mallory.client)
    assert payment.status_code == 404
    mine = ok(await list_orders.asyncio_detailed(client=mallory.client))
    assert mine.items == []
    cancel = await mallory.client.get_async_httpx_client().post(f"/v1/orders/{order.id}/cancel")
    assert cancel.status_code == 404
    assert (await settled(alice, order.id)).status == OrderStatus.CONFIRMED
