"""The ports orders' use cases need; adapters implement them, tests fake them.

Every repository method on orders takes ``org_id`` as a required keyword (a query that forgets
the tenant cannot be written), except the deadline sweep, which works for every org.
``for_update`` takes the order's row lock (``SELECT ... FOR UPDATE``): saga replies, cancels and
the sweeper of one order queue behind each other instead of overwriting each other.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from orders.domain.events import DomainEvent
from orders.domain.model import Order, OrderStatus
from shared.idempotency import ExpiringIdempotencyRecords
from shared.unit_of_work import TransactionalUnitOfWork

__all__ = [
    "OrderFilter",
    "OrderPresenter",
    "OrderReads",
    "OrderRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
]


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Optional filters of an order listing (all given ones must match)."""

    statuses: frozenset[OrderStatus] = frozenset()
    placed_by: uuid.UUID | None = None
    placed_after: datetime | None = None
    placed_before: datetime | None = None


class OrderRepository(Protocol):
    """Orders and their lines."""

    async def add(self, order: Order) -> None:
        """Insert a new order and its lines."""
        ...

    async def get(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Order | None:
        """The order (row-locked when ``for_update``), or None (also for another org's)."""
        ...

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        """Up to ``limit`` orders, newest first (by id, UUID v7), older than ``before``."""
        ...

    async def save(self, order: Order) -> None:
        """Write a changed order (and its lines, once priced)."""
        ...

    async def lock_due(self, *, now: datetime, limit: int) -> Sequence[Order]:
        """Lock up to ``limit`` orders of any org whose deadline passed, skipping orders another
        transaction holds (``FOR UPDATE SKIP LOCKED``): sweepers never block the saga."""
        ...


class OrderReads(Protocol):
    """Orders as the API reads them: each call is one consistent snapshot, in no transaction."""

    async def get(self, *, org_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
        """The order, or None (also for another org's)."""
        ...

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        """Up to ``limit`` orders, newest first (by id, UUID v7), older than ``before``."""
        ...


class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
    """One transaction: the repositories, the idempotency records, staged events, commit."""

    @property
    def orders(self) -> OrderRepository:
        """Orders, in this transaction."""
        ...

    @property
    def idempotency(self) -> ExpiringIdempotencyRecords:
        """Idempotency keys, claimed and completed in this transaction."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class OrderPresenter(Protocol):
    """Renders an order as the API returns it (stored with an idempotency key for replays)."""

    def __call__(self, order: Order) -> dict[str, Any]:
        """The JSON body of ``order``."""
        ...
