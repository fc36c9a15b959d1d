"""The ports catalog's use cases need; adapters implement them, tests fake them.

Every repository method takes ``org_id`` as a required keyword: a query that forgets the
tenant cannot be written. ``lock`` methods take row locks (``SELECT ... FOR UPDATE``) in a
deterministic order (by SKU) so concurrent reservations neither deadlock nor oversell.

Reads of one product or one SKU go through :class:`CatalogReadCache`, keyed by org; the unit of
work's adapter invalidates what a transaction changed once it commits, so use cases only read
through it. Creating requests claim their Idempotency-Key through the unit of work's
``idempotency`` records, in the same transaction as what they create.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from catalog.domain.events import DomainEvent, StockRejected
from catalog.domain.model import Product, StockItem
from catalog.domain.reservation import Reservation
from shared.idempotency import ExpiringIdempotencyRecords
from shared.jobs import JobRecords
from shared.unit_of_work import TransactionalUnitOfWork

__all__ = [
    "CatalogReadCache",
    "CatalogReads",
    "ProductFilter",
    "ProductRepository",
    "ReservationRepository",
    "StockLevel",
    "StockRepository",
    "UnitOfWork",
    "UnitOfWorkFactory",
]

StockLevel = tuple[Product, StockItem]
"""A SKU's stock level with its product (the product carries the version and updated_at)."""


@dataclass(frozen=True, slots=True)
class ProductFilter:
    """Optional filters of a product listing (all given ones must match)."""

    sku: str | None = None
    name_contains: str | None = None
    currency: str | None = None


class ProductRepository(Protocol):
    """Products of one org."""

    async def add(self, product: Product) -> None:
        """Insert a new product (a taken SKU fails at commit or here with ``SkuTakenError``)."""
        ...

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> Product | None:
        """The product, or None (also for another org's product)."""
        ...

    async def get_by_sku(
        self, *, org_id: uuid.UUID, sku: str, for_update: bool = False
    ) -> Product | None:
        """The org's product with ``sku``, or None."""
        ...

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        """Up to ``limit`` products, newest first (by id, UUID v7), older than ``before``."""
        ...

    async def save(self, product: Product) -> None:
        """Write a changed product."""
        ...


class StockRepository(Protocol):
    """Stock levels, one per product."""

    async def add(self, stock: StockItem) -> None:
        """Insert the stock level of a new product."""
        ...

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> StockItem | None:
        """The stock level of a product of the org, or None."""
        ...

    async def lock_by_skus(
        self, *, org_id: uuid.UUID, skus: Iterable[str]
    ) -> dict[str, tuple[Product, StockItem]]:
        """Lock the stock rows of ``skus`` in SKU order; unknown SKUs are absent."""
        ...

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        after_sku: str | None,
        limit: int,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Sequence[tuple[Product, StockItem]]:
        """Up to ``limit`` stock levels (with their product) by SKU, after ``after_sku``."""
        ...

    async def save(self, stock: StockItem) -> None:
        """Write a changed stock level."""
        ...


class ReservationRepository(Protocol):
    """Reservations, at most one per order."""

    async def add(self, reservation: Reservation) -> None:
        """Insert a new reservation."""
        ...

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Reservation | None:
        """The order's reservation, or None."""
        ...

    async def save(self, reservation: Reservation) -> None:
        """Write a changed reservation (its status)."""
        ...

    async def add_rejection(self, rejection: StockRejected) -> None:
        """Remember that the order was refused, and why."""
        ...

    async def get_rejection(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> StockRejected | None:
        """The order's refusal (as first answered), or None."""
        ...


class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
    """One transaction: the repositories, staged events, commit."""

    @property
    def products(self) -> ProductRepository:
        """Products, in this transaction."""
        ...

    @property
    def stock(self) -> StockRepository:
        """Stock levels, in this transaction."""
        ...

    @property
    def reservations(self) -> ReservationRepository:
        """Reservations, in this transaction."""
        ...

    @property
    def idempotency(self) -> ExpiringIdempotencyRecords:
        """Idempotency-Key records, in this transaction."""
        ...

    @property
    def jobs(self) -> JobRecords:
        """Catalog's jobs (bulk stock imports), in this transaction."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


class CatalogReads(Protocol):
    """Products and stock levels as the API reads them: one snapshot per call, no transaction."""

    async def product(self, *, org_id: uuid.UUID, product_id: uuid.UUID) -> Product | None:
        """The org's product, or None."""
        ...

    async def stock_level(self, *, org_id: uuid.UUID, sku: str) -> StockLevel | None:
        """The org's product with ``sku`` and its stock level (one snapshot), or None."""
        ...

    async def products(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        """Up to ``limit`` products, newest first (by id, UUID v7), older than ``before``."""
        ...

    async def stock_levels(
        self,
        *,
        org_id: uuid.UUID,
        after_sku: str | None,
        limit: int,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Sequence[StockLevel]:
        """Up to ``limit`` stock levels (with their product) by SKU, after ``after_sku``."""
        ...


class CatalogReadCache(Protocol):
    """Read-through caches of one org's products and stock levels.

    Call it after authorizing: ``load`` reads the source of truth on a miss (None: no such
    item, which may be cached briefly too) and its result may answer other callers of the
    same org and key.
    """

    async def product(
        self,
        *,
        org_id: uuid.UUID,
        product_id: uuid.UUID,
        load: Callable[[], Awaitable[Product | None]],
    ) -> Product | None:
        """The org's product, or None."""
        ...

    async def stock_level(
        self,
        *,
        org_id: uuid.UUID,
        sku: str,
        load: Callable[[], Awaitable[StockLevel | None]],
    ) -> StockLevel | None:
        """The org's stock level of ``sku`` with its product, or None."""
        ...
