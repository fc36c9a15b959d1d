"""Tests that change the fake provider, shared by the whole stack: run alone (``-m serial``).

A provider outage makes orders wait (payments defers, orders extends its deadline) and they
complete when it recovers; a customer cancel while waiting compensates; 200 concurrent orders on
scarce stock end terminal with stock conserved and at most one authorisation per order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from ordo_client.api.orders import cancel_order, get_order, list_orders
from ordo_client.api.payments import get_order_payment
from ordo_client.models import Order, OrderStatus

from .conftest import Provider, Tenant, TopicLog, eventually, ok
from .test_order_saga import TERMINAL, order_request, place, settled, stock_of

pytestmark = pytest.mark.serial


async def status_of(tenant: Tenant, order_id: uuid.UUID) -> Order:
    return ok(await get_order.asyncio_detailed(order_id, client=tenant.client))


async def authorizations_of(provider: Provider, tenant: Tenant, order_id: uuid.UUID) -> list:
    """The provider's authorisations for the order (payments' reference names the order)."""
    payment = await get_order_payment.asyncio_detailed(order_id, client=tenant.client)
    if payment.status_code != 200:
        return []
    found = []
    for reference in {str(order_id), str(payment.parsed.id)}:
        found += await provider.authorizations(reference)
    return found


async def test_orders_wait_out_a_provider_outage_then_confirm(
    tenant: Tenant, provider: Provider, topic_log: TopicLog
) -> None:
    await tenant.product("OUTAGE-1", 700, on_hand=10)
    await provider.outage(duration_s=600)  # until ended below
    orders = [await place(tenant, order_request(("OUTAGE-1", 1))) for _ in range(3)]

    # Each order reserves stock and then waits for payment; payments announces deferrals.
    async def deferred() -> bool:
        return all(
            "ordo.payments.payment.authorization_deferred.v1" in topic_log.types_for(o.id)
            for o in orders
        )

    await eventually(deferred, within=60)
    for order in orders:
        assert (await status_of(tenant, order.id)).status == OrderStatus.AWAITING_PAYMENT
    level = await stock_of(tenant, "OUTAGE-1")
    assert (level.reserved, level.available) == (3, 7)

    await provider.end_outages()
    for order in orders:
        assert (await settled(tenant, order.id, within=90)).status == OrderStatus.CONFIRMED
        assert len(await authorizations_of(provider, tenant, order.id)) == 1


async def test_a_customer_cancel_while_waiting_releases_stock(
    tenant: Tenant, provider: Provider, topic_log: TopicLog
) -> None:
    await tenant.product("CANCEL-1", 300, on_hand=4)
    await provider.outage(duration_s=600)
    order = await place(tenant, order_request(("CANCEL-1", 3)))

    async def waiting() -> bool:
        return (await status_of(tenant, order.id)).status == OrderStatus.AWAITING_PAYMENT

    await eventually(waiting, within=30)
    answer = await cancel_order.asyncio_detailed(order.id, client=tenant.client)
    assert answer.status_code in (200, 202), answer.content
    assert answer.parsed.status in (OrderStatus.CANCELLING, OrderStatus.CANCELLED)
    done = await settled(tenant, order.id)
    assert done.status == OrderStatus.CANCELLED

    async def released() -> bool:
        level = await stock_of(tenant, "CANCEL-1")
        return (level.on_hand, level.reserved, level.available) == (4, 0, 4)

    await eventually(released)
    await provider.end_outages()
    again = await cancel_order.asyncio_detailed(order.id, client=tenant.client)
    assert again.status_code in (200, 202, 409)

    # Nothing stays authorised for it: an attempt already in flight is voided.
    async def nothing_held() -> bool:
        payment = await get_order_payment.asyncio_detailed(order.id, client=tenant.client)
        # Settled: never created, or cancelled/voided (not pending, not voiding).
        settled_payment = payment.status_code == 404 or payment.parsed.status.value in (
            "cancelled",
            "voided",
            "failed",
        )
        held = [
            a
            for a in await authorizations_of(provider, tenant, order.id)
            if a["status"] not in ("voided", "declined")
        ]
        return settled_payment and not held

    await eventually(nothing_held, within=30)
    assert "ordo.orders.order.cancelled.v1" in topic_log.types_for(order.id)


async def test_two_hundred_concurrent_orders_on_scarce_stock(
    new_tenant, provider: Provider
) -> None:
    tenant: Tenant = await new_tenant()
    stock = {"SCARCE-A": 40, "SCARCE-B": 25}
    for sku, on_hand in stock.items():
        await tenant.product(sku, 250, on_hand=on_hand)

    def lines(i: int) -> list[tuple[str, int]]:
        if i % 3 == 0:
            return [("SCARCE-A", 1), ("SCARCE-B", 1)]
        return [("SCARCE-A" if i % 3 == 1 else "SCARCE-B", 1 + i % 2)]

    wanted = {i: lines(i) for i in range(200)}
    placed = await asyncio.gather(*(place(tenant, order_request(*wanted[i])) for i in wanted))
    by_id = {o.id: wanted[i] for i, o in enumerate(placed)}

    async def all_terminal() -> list[Order] | None:
        seen: list[Order] = []
        cursor = None
        while True:
            page = ok(
                await list_orders.asyncio_detailed(
                    client=tenant.client, limit=100, **({"cursor": cursor} if cursor else {})
                )
            )
            seen += page.items
            cursor = page.next_cursor
            if not cursor:
                break
        done = [o for o in seen if o.id in by_id and o.status in TERMINAL]
        return done if len(done) == len(by_id) else None

    final = await eventually(all_terminal, within=180, every=1.0)
    outcome = Counter(o.status for o in final)
    assert set(outcome) <= {OrderStatus.CONFIRMED, OrderStatus.REJECTED}, outcome
    assert outcome[OrderStatus.CONFIRMED] > 0, outcome
    assert outcome[OrderStatus.REJECTED] > 0, outcome

    sold = Counter()
    for order in final:
        if order.status == OrderStatus.CONFIRMED:
            for sku, quantity in by_id[order.id]:
                sold[sku] += quantity

    async def conserved() -> bool:
        for sku, on_hand in stock.items():
            level = await stock_of(tenant, sku)
            if (level.on_hand, level.reserved, level.available) != (
                on_hand - sold[sku],
                0,
                on_hand - sold[sku],
            ):
                return False
        return True

    await eventually(conserved, within=60)
    for sku, on_hand in stock.items():
        assert sold[sku] <= on_hand  # no oversell

    for order in final:
        authorizations = await authorizations_of(provider, tenant, order.id)
        if order.status == OrderStatus.CONFIRMED:
            assert len(authorizations) == 1, (order.id, authorizations)
        else:
            assert authorizations == []
