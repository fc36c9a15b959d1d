"""Catalog as the API reads it: one statement per read, outside any transaction.

The read caches load a product by id and a SKU's stock level with its product on a miss: each
is one statement built once, here (compiled once, prepared once per connection); the level and
its product come from one join, so they are one snapshot. Listings run the repositories' own
queries on an autocommit connection: one statement each, no ``BEGIN``/``ROLLBACK``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import bindparam, select

from catalog.adapters.persistence.repositories import (
    SqlaProductRepository,
    SqlaStockRepository,
)

# The row -> domain mappings are the repositories', so both read the columns the same way.
from catalog.adapters.persistence.repositories import _joined as joined
from catalog.adapters.persistence.repositories import _product as product_of
from catalog.adapters.persistence.tables import products, stock_items
from catalog.application.ports import ProductFilter, StockLevel
from catalog.domain.model import Product
from shared.db import ReadOnlyDatabase

__all__ = ["SqlaCatalogReads"]

_p, _s = products.c, stock_items.c
_PRODUCT = select(products).where(_p.org_id == bindparam("org_id"), _p.id == bindparam("id"))
_STOCK_LEVEL = (
    select(stock_items, products)
    .join(products, _p.id == _s.product_id)
    .where(_p.org_id == bindparam("org_id"), _p.sku == bindparam("sku"))
)


class SqlaCatalogReads:
    """Implements catalog's ``CatalogReads`` port on :class:`shared.db.ReadOnlyDatabase`."""

    def __init__(self, db: ReadOnlyDatabase) -> None:
        self._db = db

    async def product(self, *, org_id: uuid.UUID, product_id: uuid.UUID) -> Product | None:
        """The org's product, or None."""
        row = await self._db.first(_PRODUCT, {"org_id": org_id, "id": product_id})
        return product_of(row._mapping) if row is not None else None

    async def stock_level(self, *, org_id: uuid.UUID, sku: str) -> StockLevel | None:
        """The org's product with ``sku`` and its stock level, or None."""
        row = await self._db.first(_STOCK_LEVEL, {"org_id": org_id, "sku": sku})
        return joined(row._mapping) if row is not None else None

    async def products(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        """Up to ``limit`` of the org's products, newest first, older than ``before``."""
        return await self._db.run(
            lambda conn: SqlaProductRepository(conn).list(
                org_id=org_id, before=before, limit=limit, filters=filters
            )
        )

    async def stock_levels(
        self,
        *,
        org_id: uuid.UUID,
        after_sku: str | None,
        limit: int,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Sequence[StockLevel]:
        """Up to ``limit`` of the org's stock levels by SKU, after ``after_sku``."""
        return await self._db.run(
            lambda conn: SqlaStockRepository(conn).list(
                org_id=org_id,
                after_sku=after_sku,
                limit=limit,
                skus=skus,
                available_lt=available_lt,
            )
        )
