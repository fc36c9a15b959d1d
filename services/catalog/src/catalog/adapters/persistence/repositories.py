"""Catalog's product and stock repositories on PostgreSQL; every query is scoped by ``org_id``."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from catalog.adapters.persistence._sql import insert_or_conflict
from catalog.adapters.persistence.tables import products, stock_items
from catalog.application.ports import ProductFilter
from catalog.domain.errors import SkuTakenError
from catalog.domain.model import Money, Product, StockItem

__all__ = ["SqlaProductRepository", "SqlaStockRepository"]

# A unit of work's session, or an autocommit connection for the API's reads (one statement,
# no transaction: shared.db.ReadOnlyDatabase).
Executor = AsyncSession | AsyncConnection


def _product(row: RowMapping) -> Product:
    return Product(
        id=row["id"],
        org_id=row["org_id"],
        sku=row["sku"],
        name=row["name"],
        description=row["description"],
        price=Money(row["price_minor"], row["currency"]),
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _stock(row: RowMapping) -> StockItem:
    return StockItem(
        product_id=row["product_id"],
        org_id=row["org_id"],
        sku=row["sku"],
        on_hand=row["on_hand"],
        reserved=row["reserved"],
    )


class SqlaProductRepository:
    """Products in PostgreSQL."""

    def __init__(self, session: Executor) -> None:
        self._session = session

    async def add(self, product: Product) -> None:
        """Insert; a taken SKU is ``SkuTakenError``."""
        statement = insert(products).values(
            id=product.id,
            org_id=product.org_id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price_minor=product.price.amount_minor,
            currency=product.price.currency,
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )
        await insert_or_conflict(
            self._session, statement, SkuTakenError(details={"sku": product.sku})
        )

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> Product | None:
        """The org's product (row-locked when ``for_update``), or None."""
        query = select(products).where(products.c.org_id == org_id, products.c.id == product_id)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _product(row) if row else None

    async def get_by_sku(
        self, *, org_id: uuid.UUID, sku: str, for_update: bool = False
    ) -> Product | None:
        """The org's product with ``sku`` (row-locked when ``for_update``), or None."""
        query = select(products).where(products.c.org_id == org_id, products.c.sku == sku)
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _product(row) if row else None

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        """Up to ``limit`` of the org's products, newest first, older than the cursor ``before``."""
        query = select(products).where(products.c.org_id == org_id)
        if before is not None:
            query = query.where(products.c.id < before)
        if filters is not None:
            if filters.sku is not None:
                query = query.where(products.c.sku == filters.sku)
            if filters.currency is not None:
                query = query.where(products.c.currency == filters.currency)
            if filters.name_contains is not None:
                pattern = filters.name_contains.replace("\\", "\\\\")
                pattern = pattern.replace("%", "\\%").replace("_", "\\_")
                query = query.where(products.c.name.ilike(f"%{pattern}%", escape="\\"))
        query = query.order_by(products.c.id.desc()).limit(limit)
        return [_product(row) for row in (await self._session.execute(query)).mappings()]

    async def save(self, product: Product) -> None:
        """Write the mutable columns."""
        await self._session.execute(
            update(products)
            .where(products.c.org_id == product.org_id, products.c.id == product.id)
            .values(
                name=product.name,
                description=product.description,
                price_minor=product.price.amount_minor,
                currency=product.price.currency,
                version=product.version,
                updated_at=product.updated_at,
            )
        )


class SqlaStockRepository:
    """Stock levels in PostgreSQL."""

    def __init__(self, session: Executor) -> None:
        self._session = session

    async def add(self, stock: StockItem) -> None:
        """Insert the stock level of a new product."""
        await self._session.execute(
            insert(stock_items).values(
                product_id=stock.product_id,
                org_id=stock.org_id,
                sku=stock.sku,
                on_hand=stock.on_hand,
                reserved=stock.reserved,
            )
        )

    async def get(
        self, *, org_id: uuid.UUID, product_id: uuid.UUID, for_update: bool = False
    ) -> StockItem | None:
        """The org's stock level of a product (row-locked when ``for_update``), or None."""
        query = select(stock_items).where(
            stock_items.c.org_id == org_id, stock_items.c.product_id == product_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _stock(row) if row else None

    async def lock_by_skus(
        self, *, org_id: uuid.UUID, skus: Iterable[str]
    ) -> dict[str, tuple[Product, StockItem]]:
        """Lock the stock rows of ``skus`` (``FOR UPDATE OF stock_items``, in SKU order).

        One statement, ordered by SKU: every transaction takes the locks of the SKUs it
        shares with another in the same order, so they queue and never deadlock.
        """
        wanted = sorted(set(skus))
        if not wanted:
            return {}
        query = (
            select(stock_items, products)
            .join(products, products.c.id == stock_items.c.product_id)
            .where(stock_items.c.org_id == org_id, stock_items.c.sku.in_(wanted))
            .order_by(stock_items.c.sku)
            .with_for_update(of=stock_items)
        )
        rows = (await self._session.execute(query)).all()
        found: dict[str, tuple[Product, StockItem]] = {}
        for row in rows:
            product, stock = _joined(row._mapping)
            found[stock.sku] = (product, stock)
        return found

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        after_sku: str | None,
        limit: int,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Sequence[tuple[Product, StockItem]]:
        """Up to ``limit`` of the org's stock levels by SKU, after ``after_sku`` (keyset)."""
        query = (
            select(stock_items, products)
            .join(products, products.c.id == stock_items.c.product_id)
            .where(stock_items.c.org_id == org_id)
        )
        if after_sku is not None:
            query = query.where(stock_items.c.sku > after_sku)
        if skus:
            query = query.where(stock_items.c.sku.in_(list(skus)))
        if available_lt is not None:
            query = query.where(stock_items.c.on_hand - stock_items.c.reserved < available_lt)
        query = query.order_by(stock_items.c.sku).limit(limit)
        return [_joined(row._mapping) for row in (await self._session.execute(query)).all()]

    async def save(self, stock: StockItem) -> None:
        """Write the levels."""
        await self._session.execute(
            update(stock_items)
            .where(
                stock_items.c.org_id == stock.org_id,
                stock_items.c.product_id == stock.product_id,
            )
            .values(on_hand=stock.on_hand, reserved=stock.reserved)
        )


def _joined(mapping: Any) -> tuple[Product, StockItem]:
    """A (product, stock level) pair from a row of ``stock_items JOIN products``."""
    stock = StockItem(
        product_id=mapping[stock_items.c.product_id],
        org_id=mapping[stock_items.c.org_id],
        sku=mapping[stock_items.c.sku],
        on_hand=mapping[stock_items.c.on_hand],
        reserved=mapping[stock_items.c.reserved],
    )
    product = Product(
        id=mapping[products.c.id],
        org_id=mapping[products.c.org_id],
        sku=mapping[products.c.sku],
        name=mapping[products.c.name],
        description=mapping[products.c.description],
        price=Money(mapping[products.c.price_minor], mapping[products.c.currency]),
        version=mapping[products.c.version],
        created_at=mapping[products.c.created_at],
        updated_at=mapping[products.c.updated_at],
    )
    return product, stock
