"""PlaceOrder through bootstrap on fakes: the order, its event, and Idempotency-Key semantics."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from orders.adapters.http.schemas import present
from orders.application.facade import OrdersUseCases
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.domain.errors import InvalidOrderError
from orders.domain.model import Order, OrderStatus
from orders.domain.values import OrderLine
from shared.auth.principal import Role
from shared.clock import FrozenClock
from shared.idempotency import IdempotencyInProgressError, IdempotencyKeyReusedError

from .conftest import FakeUnitOfWork, Store, events_of, principal_of, wire


def command(org_id: uuid.UUID, key: str = "k-1", **lines: int) -> PlaceOrderInput:
    wanted = lines or {"A": 2}
    return PlaceOrderInput(
        org_id=org_id,
        currency="EUR",
        lines=[OrderLine(sku, qty) for sku, qty in wanted.items()],
        idempotency_key=key,
    )


async def test_placing_creates_a_pending_order_and_its_event(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID, clock: FrozenClock
) -> None:
    caller = principal_of(org_id)
    result = await orders.place_order(caller, command(org_id, A=2, B=1))
    assert not result.replayed
    assert result.order is not None
    (stored,) = store.orders.values()
    assert (stored.status, stored.placed_by, stored.org_id) == (
        OrderStatus.PENDING,
        caller.user_id,
        org_id,
    )
    assert result.response.status_code == 201
    assert result.response.body == present(stored)
    assert result.response.body["status"] == "pending"
    assert events_of(store, stored.id) == ["OrderPlaced"]


async def test_the_same_key_and_body_replays_the_first_response(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID, clock: FrozenClock
) -> None:
    caller = principal_of(org_id)
    first = await orders.place_order(caller, command(org_id))
    clock.advance(60)
    again = await orders.place_order(principal_of(org_id), command(org_id))
    assert again.replayed
    assert again.response == first.response
    assert len(store.orders) == 1
    assert store.commits == 1  # the replay wrote nothing


async def test_the_same_key_with_another_body_is_refused(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    await orders.place_order(principal_of(org_id), command(org_id, A=2))
    with pytest.raises(IdempotencyKeyReusedError):
        await orders.place_order(principal_of(org_id), command(org_id, A=3))
    assert len(store.orders) == 1


async def test_keys_are_scoped_per_org(orders: OrdersUseCases, store: Store) -> None:
    one, two = uuid.uuid4(), uuid.uuid4()
    await orders.place_order(principal_of(one), command(one))
    other = await orders.place_order(principal_of(two), command(two))
    assert not other.replayed
    assert len(store.orders) == 2


async def test_a_key_in_flight_is_409_and_free_again_once_its_request_ends(
    orders: OrdersUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    twin = FakeUnitOfWork(store, clock)
    async with twin:  # another request holds the key inside its open transaction
        await twin.idempotency.claim(scope=f"{org_id}:place_order", key="k-1", fingerprint="x")
        with pytest.raises(IdempotencyInProgressError):
            await orders.place_order(principal_of(org_id), command(org_id))
        assert store.orders == {}
    # The twin ended without committing: its claim is gone, the key is new again.
    result = await orders.place_order(principal_of(org_id), command(org_id))
    assert not result.replayed
    assert len(store.orders) == 1


async def test_a_failed_attempt_leaves_neither_order_nor_key(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    calls = 0

    def flaky(order: Order) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("the database went away")
        return present(order)

    orders = wire(store, clock, flaky)
    with pytest.raises(ConnectionError):
        await orders.place_order(principal_of(org_id), command(org_id))
    assert (store.orders, store.keys, store.events) == ({}, {}, [])
    retried = await orders.place_order(principal_of(org_id), command(org_id))
    assert not retried.replayed
    assert len(store.orders) == 1


async def test_a_repeated_sku_is_invalid_and_writes_nothing(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    repeated = PlaceOrderInput(
        org_id=org_id,
        currency="EUR",
        lines=[OrderLine("A", 1), OrderLine("A", 2)],
        idempotency_key="k-2",
    )
    with pytest.raises(InvalidOrderError):
        await orders.place_order(principal_of(org_id), repeated)
    assert (store.orders, store.keys) == ({}, {})


@pytest.mark.parametrize("role", [Role.OWNER, Role.ADMIN, Role.MEMBER])
async def test_buyers_place_orders(orders: OrdersUseCases, org_id: uuid.UUID, role: Role) -> None:
    result = await orders.place_order(principal_of(org_id, role), command(org_id))
    assert result.response.status_code == 201
