"""Fakes of catalog's ports (in memory, no IO) and the use cases wired through ``bootstrap``.

The fakes copy aggregates in and out, as a database would: a use case that changes an object
without saving it changes nothing.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self, TypeVar

import pytest

from catalog.application.facade import CatalogUseCases
from catalog.application.ports import ProductFilter
from catalog.bootstrap import bootstrap
from catalog.domain.errors import SkuTakenError
from catalog.domain.events import DomainEvent, StockRejected
from catalog.domain.model import Product, StockItem
from catalog.domain.reservation import Reservation
from shared.auth.principal import Principal, Role
from shared.clock import Clock, FrozenClock, SystemClock
from shared.errors import ConflictError
from shared.idempotency import (
    IdempotencyKeyReusedError,
    IdempotentResponse,
)

T = TypeVar("T", Product, StockItem, Reservation)
IDEMPOTENCY_TTL = timedelta(hours=24)


def principal_of(org_id: uuid.UUID, role: Role = Role.MEMBER) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


def _row(aggregate: T) -> T:
    """A stored copy: what a row holds (no pending events)."""
    stored = copy.deepcopy(aggregate)
    stored.pull_events()
    return stored


@dataclass
class Store:
    """The fake database."""

    products: dict[uuid.UUID, Product] = field(default_factory=dict)
    stock: dict[uuid.UUID, StockItem] = field(default_factory=dict)
    reservations: dict[uuid.UUID, Reservation] = field(default_factory=dict)
    rejections: dict[uuid.UUID, StockRejected] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], tuple[str, IdempotentResponse | None]] = field(
        default_factory=dict
    )
    idempotency_expires_at: dict[tuple[str, str], datetime] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    commits: int = 0
    opened: int = 0


class FakeProductRepository:
    def __init__(self, store: dict[uuid.UUID, Product]) -> None:
        self.s = store

    async def add(self, product: Product) -> None:
        if any(p.org_id == product.org_id and p.sku == product.sku for p in self.s.values()):
            raise SkuTakenError()
        self.s[product.id] = _row(product)

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> Product | None:
        product = self.s.get(product_id)
        return copy.deepcopy(product) if product and product.org_id == org_id else None

    async def get_by_sku(
        self, *, org_id: uuid.UUID, sku: str, for_update: bool = False
    ) -> Product | None:
        found = [p for p in self.s.values() if p.org_id == org_id and p.sku == sku]
        return copy.deepcopy(found[0]) if found else None

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        f = filters or ProductFilter()
        mine = sorted(
            (
                p
                for p in self.s.values()
                if p.org_id == org_id
                and (before is None or p.id < before)
                and f.sku in (None, p.sku)
                and f.currency in (None, p.price.currency)
                and (f.name_contains or "").lower() in p.name.lower()
            ),
            key=lambda p: p.id,
            reverse=True,
        )
        return [copy.deepcopy(p) for p in mine][:limit]

    async def save(self, product: Product) -> None:
        self.s[product.id] = _row(product)


class FakeStockRepository:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def add(self, stock: StockItem) -> None:
        self.store.stock[stock.product_id] = _row(stock)

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> StockItem | None:
        stock = self.store.stock.get(product_id)
        return copy.deepcopy(stock) if stock and stock.org_id == org_id else None

    async def lock_by_skus(
        self, *, org_id: uuid.UUID, skus: Iterable[str]
    ) -> dict[str, tuple[Product, StockItem]]:
        wanted = set(skus)
        return {
            s.sku: (copy.deepcopy(self.store.products[s.product_id]), copy.deepcopy(s))
            for s in self.store.stock.values()
            if s.org_id == org_id and s.sku in wanted
        }

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        after_sku: str | None,
        limit: int,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Sequence[tuple[Product, StockItem]]:
        rows = sorted(
            (
                (copy.deepcopy(self.store.products[s.product_id]), copy.deepcopy(s))
                for s in self.store.stock.values()
                if s.org_id == org_id
                and (after_sku is None or s.sku > after_sku)
                and (not skus or s.sku in skus)
                and (available_lt is None or s.available < available_lt)
            ),
            key=lambda pair: pair[1].sku,
        )
        return rows[:limit]

    async def save(self, stock: StockItem) -> None:
        self.store.stock[stock.product_id] = _row(stock)


class FakeReservationRepository:
    def __init__(
        self, store: dict[uuid.UUID, Reservation], rejected: dict[uuid.UUID, StockRejected]
    ) -> None:
        self.s = store
        self.rejected = rejected

    async def add(self, reservation: Reservation) -> None:
        if reservation.order_id in self.s:
            raise ConflictError()
        self.s[reservation.order_id] = _row(reservation)

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Reservation | None:
        found = self.s.get(order_id)
        return copy.deepcopy(found) if found and found.org_id == org_id else None

    async def save(self, reservation: Reservation) -> None:
        self.s[reservation.order_id] = _row(reservation)

    async def add_rejection(self, rejection: StockRejected) -> None:
        self.rejected[rejection.order_id] = rejection

    async def get_rejection(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> StockRejected | None:
        found = self.rejected.get(order_id)
        return found if found and found.org_id == org_id else None


class FakeIdempotencyRecords:
    """Keys claimed in one unit of work; they reach the store only if it commits.

    As in PostgreSQL, a record answers for ``IDEMPOTENCY_TTL`` after its claim (dated by
    ``clock``); an expired one is claimed afresh.
    """

    def __init__(self, work: Store, clock: Clock) -> None:
        self.records = work.idempotency
        self.expires_at = work.idempotency_expires_at
        self.clock = clock

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        now = self.clock.now()
        found = self.records.get((scope, key))
        if found is None or self.expires_at[(scope, key)] <= now:
            self.records[(scope, key)] = (fingerprint, None)
            self.expires_at[(scope, key)] = now + IDEMPOTENCY_TTL
            return None
        if found[0] != fingerprint:
            raise IdempotencyKeyReusedError()
        return found[1]

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        fingerprint, _ = self.records[(scope, key)]
        self.records[(scope, key)] = (fingerprint, response)

    async def purge_expired(self, *, now: datetime) -> int:
        expired = [k for k, at in self.expires_at.items() if at <= now]
        for k in expired:
            del self.records[k], self.expires_at[k]
        return len(expired)


class FakeUnitOfWork:
    """Applies the staged writes to the store only on commit (``clock`` dates the idempotency
    records, as the real adapter's does)."""

    def __init__(self, store: Store, clock: Clock | None = None) -> None:
        self.committed = store
        self.clock = clock or SystemClock()

    async def __aenter__(self) -> Self:
        self.committed.opened += 1
        self.work = copy.deepcopy(self.committed)
        self.products = FakeProductRepository(self.work.products)
        self.stock = FakeStockRepository(self.work)
        self.reservations = FakeReservationRepository(self.work.reservations, self.work.rejections)
        self.idempotency = FakeIdempotencyRecords(self.work, self.clock)
        self.staged: list[DomainEvent] = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def record(self, events: Iterable[DomainEvent]) -> None:
        self.staged.extend(events)

    async def commit(self) -> None:
        self.committed.products = self.work.products
        self.committed.stock = self.work.stock
        self.committed.reservations = self.work.reservations
        self.committed.rejections = self.work.rejections
        self.committed.idempotency = self.work.idempotency
        self.committed.idempotency_expires_at = self.work.idempotency_expires_at
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


@pytest.fixture
def catalog(store: Store, clock: FrozenClock) -> CatalogUseCases:
    """The use cases, wired through the real ``bootstrap`` on the fakes."""
    return bootstrap(uow=lambda: FakeUnitOfWork(store, clock), clock=clock)
