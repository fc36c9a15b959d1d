"""GetOrder, ListOrders (pagination, filters, cursors bound to filters) and CancelOrder."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from orders.application.facade import OrdersUseCases
from orders.application.ports import OrderFilter
from orders.application.use_cases.cancel_order import CancelOrderInput
from orders.application.use_cases.on_stock_rejected import StockRejectedInput
from orders.application.use_cases.on_stock_released import StockReleasedInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.domain.errors import OrderNotCancellableError, OrderNotFoundError
from orders.domain.model import Order, OrderStatus
from orders.domain.values import OrderLine
from shared.auth.principal import Principal
from shared.clock import FrozenClock
from shared.errors import ValidationError

from .conftest import Store, events_of, principal_of


async def place(orders: OrdersUseCases, caller: Principal, sku: str = "A") -> Order:
    result = await orders.place_order(
        caller,
        PlaceOrderInput(caller.org_id, "EUR", [OrderLine(sku, 1)], str(uuid.uuid4())),
    )
    assert result.order is not None
    return result.order


async def test_get_returns_the_order_and_hides_other_orgs(
    orders: OrdersUseCases, org_id: uuid.UUID
) -> None:
    order = await place(orders, principal_of(org_id))
    got = await orders.get_order(principal_of(org_id), org_id=org_id, order_id=order.id)
    assert (got.id, got.status) == (order.id, OrderStatus.PENDING)
    stranger = principal_of(uuid.uuid4())
    with pytest.raises(OrderNotFoundError):
        await orders.get_order(stranger, org_id=stranger.org_id, order_id=order.id)
    with pytest.raises(OrderNotFoundError):
        await orders.get_order(principal_of(org_id), org_id=org_id, order_id=uuid.uuid4())


async def test_list_pages_newest_first_and_filters(
    orders: OrdersUseCases, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    alice, bob = principal_of(org_id), principal_of(org_id)
    placed = []
    for n in range(5):
        placed.append(await place(orders, alice if n % 2 == 0 else bob, f"S{n}"))
        clock.advance(10)
    await place(orders, principal_of(uuid.uuid4()))  # another org's: never listed
    newest_first = [o.id for o in reversed(placed)]

    first = await orders.list_orders(alice, org_id=org_id, limit=2)
    assert [o.id for o in first.items] == newest_first[:2]
    assert first.next_cursor is not None
    second = await orders.list_orders(alice, org_id=org_id, cursor=first.next_cursor, limit=2)
    third = await orders.list_orders(alice, org_id=org_id, cursor=second.next_cursor, limit=2)
    assert [o.id for o in second.items + third.items] == newest_first[2:]
    assert third.next_cursor is None

    by_bob = await orders.list_orders(
        alice, org_id=org_id, filters=OrderFilter(placed_by=bob.user_id)
    )
    assert [o.id for o in by_bob.items] == [placed[3].id, placed[1].id]
    window = OrderFilter(placed_after=placed[1].placed_at, placed_before=placed[3].placed_at)
    in_window = await orders.list_orders(alice, org_id=org_id, filters=window)
    assert [o.id for o in in_window.items] == [placed[2].id, placed[1].id]

    await orders.cancel_order(alice, CancelOrderInput(org_id, placed[0].id))
    cancelling = await orders.list_orders(
        alice, org_id=org_id, filters=OrderFilter(statuses=frozenset({OrderStatus.CANCELLING}))
    )
    assert [o.id for o in cancelling.items] == [placed[0].id]


async def test_a_cursor_is_bound_to_its_filters_and_must_be_ours(
    orders: OrdersUseCases, org_id: uuid.UUID
) -> None:
    caller = principal_of(org_id)
    for n in range(3):
        await place(orders, caller, f"S{n}")
    pending = OrderFilter(statuses=frozenset({OrderStatus.PENDING}))
    page = await orders.list_orders(caller, org_id=org_id, limit=1, filters=pending)
    assert page.next_cursor is not None
    with pytest.raises(ValidationError):
        await orders.list_orders(caller, org_id=org_id, cursor=page.next_cursor, limit=1)
    for forged in ("%%%", "bm90LWEtY3Vyc29y", str(uuid.uuid4())):
        with pytest.raises(ValidationError):
            await orders.list_orders(caller, org_id=org_id, cursor=forged)
    for limit in (0, 101):
        with pytest.raises(ValidationError):
            await orders.list_orders(caller, org_id=org_id, limit=limit)
    later = page.items[0].placed_at + timedelta(seconds=1)
    with pytest.raises(ValidationError):
        await orders.list_orders(
            caller,
            org_id=org_id,
            filters=OrderFilter(placed_after=later, placed_before=later),
        )


async def test_cancel_is_idempotent_until_cancelled(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    caller = principal_of(org_id)
    order = await place(orders, caller)
    first = await orders.cancel_order(caller, CancelOrderInput(org_id, order.id, "too slow"))
    again = await orders.cancel_order(caller, CancelOrderInput(org_id, order.id))
    assert first.status is again.status is OrderStatus.CANCELLING
    assert (again.version, again.cancel_note) == (2, "too slow")
    assert events_of(store, order.id) == ["OrderPlaced", "OrderCancelRequested"]
    await orders.on_stock_released(StockReleasedInput(org_id, order.id))
    done = await orders.cancel_order(caller, CancelOrderInput(org_id, order.id))
    assert done.status is OrderStatus.CANCELLED
    assert events_of(store, order.id)[-1] == "OrderCancelled"


async def test_a_rejected_order_cannot_be_cancelled(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    caller = principal_of(org_id)
    order = await place(orders, caller)
    await orders.on_stock_rejected(StockRejectedInput(org_id, order.id, "unknown_sku", []))
    with pytest.raises(OrderNotCancellableError) as error:
        await orders.cancel_order(caller, CancelOrderInput(org_id, order.id))
    assert error.value.code == "order.not_cancellable"
    assert store.orders[order.id].status is OrderStatus.REJECTED


async def test_another_orgs_order_cannot_be_cancelled(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = await place(orders, principal_of(org_id))
    stranger = principal_of(uuid.uuid4())
    with pytest.raises(OrderNotFoundError):
        await orders.cancel_order(stranger, CancelOrderInput(stranger.org_id, order.id))
    assert store.orders[order.id].status is OrderStatus.PENDING
