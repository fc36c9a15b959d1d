"""Fakes of orders' ports (in memory, no IO) and the use cases wired through ``bootstrap``.

The fakes copy aggregates in and out, as a database would: a use case that changes an order
without saving it changes nothing. Idempotency keys are locked while the unit of work that
claimed them is open, as PostgreSQL's transaction-scoped advisory lock does.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, Self

import pytest

from orders.adapters.http.schemas import present
from orders.application.facade import OrdersUseCases
from orders.application.ports import OrderFilter, OrderPresenter
from orders.bootstrap import bootstrap
from orders.domain.events import DomainEvent
from orders.domain.model import Order
from orders.domain.values import Deadlines
from shared.auth.principal import Principal, Role
from shared.clock import FrozenClock
from shared.errors import ConflictError
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotentResponse,
)

DEADLINES = Deadlines(
    stock=timedelta(seconds=30),
    payment=timedelta(seconds=60),
    payment_max_wait=timedelta(seconds=600),
    compensation_retry=timedelta(seconds=60),
)
TTL = timedelta(hours=24)


def principal_of(org_id: uuid.UUID, role: Role = Role.MEMBER) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


def _row(order: Order) -> Order:
    """A stored copy: what a row holds (no pending events)."""
    stored = copy.deepcopy(order)
    stored.pull_events()
    return stored


@dataclass
class Record:
    fingerprint: str
    response: IdempotentResponse | None
    expires_at: datetime


@dataclass
class Store:
    """The fake database."""

    orders: dict[uuid.UUID, Order] = field(default_factory=dict)
    keys: dict[tuple[str, str], Record] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    held: set[tuple[str, str]] = field(default_factory=set)
    commits: int = 0


class FakeOrderRepository:
    def __init__(self, rows: dict[uuid.UUID, Order]) -> None:
        self.rows = rows

    async def add(self, order: Order) -> None:
        if order.id in self.rows:
            raise ConflictError()
        self.rows[order.id] = _row(order)

    async def get(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Order | None:
        order = self.rows.get(order_id)
        return copy.deepcopy(order) if order and order.org_id == org_id else None

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        mine = sorted(
            (
                o
                for o in self.rows.values()
                if o.org_id == org_id
                and (before is None or o.id < before)
                and (not filters.statuses or o.status in filters.statuses)
                and filters.placed_by in (None, o.placed_by)
                and (filters.placed_after is None or o.placed_at >= filters.placed_after)
                and (filters.placed_before is None or o.placed_at < filters.placed_before)
            ),
            key=lambda o: o.id,
            reverse=True,
        )
        return [copy.deepcopy(o) for o in mine][:limit]

    async def save(self, order: Order) -> None:
        self.rows[order.id] = _row(order)

    async def lock_due(self, *, now: datetime, limit: int) -> Sequence[Order]:
        due = sorted(
            (o for o in self.rows.values() if o.deadline_at is not None and o.deadline_at <= now),
            key=lambda o: o.deadline_at or now,
        )
        return [copy.deepcopy(o) for o in due][:limit]


class FakeIdempotencyStore:
    def __init__(self, store: Store, keys: dict[tuple[str, str], Record], clock: FrozenClock):
        self.store, self.keys, self.clock = store, keys, clock
        self.mine: set[tuple[str, str]] = set()

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        if (scope, key) in self.store.held:
            raise IdempotencyInProgressError()
        self.store.held.add((scope, key))
        self.mine.add((scope, key))
        record = self.keys.get((scope, key))
        now = self.clock.now()
        if record is not None and record.expires_at > now:
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError()
            assert record.response is not None
            return record.response
        self.keys[(scope, key)] = Record(fingerprint, None, now + TTL)
        return None

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        self.keys[(scope, key)].response = response

    async def purge_expired(self, *, now: datetime) -> int:
        expired = [k for k, r in self.keys.items() if r.expires_at <= now]
        for k in expired:
            del self.keys[k]
        return len(expired)

    def release(self) -> None:
        self.store.held -= self.mine
        self.mine.clear()


class FakeUnitOfWork:
    """Applies the staged writes to the store only on commit."""

    def __init__(self, store: Store, clock: FrozenClock) -> None:
        self.committed, self.clock = store, clock

    async def __aenter__(self) -> Self:
        self.work_orders = copy.deepcopy(self.committed.orders)
        self.work_keys = copy.deepcopy(self.committed.keys)
        self.orders = FakeOrderRepository(self.work_orders)
        self.idempotency = FakeIdempotencyStore(self.committed, self.work_keys, self.clock)
        self.staged: list[DomainEvent] = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.idempotency.release()

    def record(self, events: Iterable[DomainEvent]) -> None:
        self.staged.extend(events)

    async def commit(self) -> None:
        self.committed.orders = self.work_orders
        self.committed.keys = self.work_keys
        self.committed.events.extend(self.staged)
        self.committed.commits += 1


@pytest.fixture
def store() -> Store:
    """An empty fake database."""
    return Store()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when told."""
    return FrozenClock()


def wire(store: Store, clock: FrozenClock, presenter: OrderPresenter = present) -> OrdersUseCases:
    """The use cases through the real ``bootstrap`` on the fakes."""
    return bootstrap(
        uow=lambda: FakeUnitOfWork(store, clock),
        clock=clock,
        deadlines=DEADLINES,
        presenter=presenter,
    )


@pytest.fixture
def orders(store: Store, clock: FrozenClock) -> OrdersUseCases:
    """The use cases, wired through the real ``bootstrap`` on the fakes."""
    return wire(store, clock)


def events_of(store: Store, order_id: uuid.UUID) -> list[str]:
    """The names of the committed events of one order, in order."""
    return [type(e).__name__ for e in store.events if e.order_id == order_id]


def any_body() -> dict[str, Any]:
    """A placeable body."""
    return {"currency": "EUR", "lines": [{"sku": "A", "quantity": 2}]}
