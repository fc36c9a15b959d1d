"""``CatalogReads`` through units of work: for wirings without a dedicated read path (fakes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from catalog.application.ports import ProductFilter, StockLevel, UnitOfWorkFactory
from catalog.domain.model import Product

__all__ = ["UnitOfWorkReads"]


class UnitOfWorkReads:
    """Each read in a unit of work of its own (the API's real reads need no transaction)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def product(self, *, org_id: uuid.UUID, product_id: uuid.UUID) -> Product | None:
        """The org's product, or None."""
        async with self._uow() as uow:
            return await uow.products.get(org_id=org_id, product_id=product_id)

    async def stock_level(self, *, org_id: uuid.UUID, sku: str) -> StockLevel | None:
        """The org's product with ``sku`` and its stock level, or None."""
        async with self._uow() as uow:
            product = await uow.products.get_by_sku(org_id=org_id, sku=sku)
            stock = await uow.stock.get(org_id=org_id, product_id=product.id) if product else None
        return (product, stock) if product is not None and stock is not None else None

    async def products(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: ProductFilter | None = None,
    ) -> Sequence[Product]:
        """Up to ``limit`` of the org's products, newest first, older than ``before``."""
        async with self._uow() as uow:
            return await uow.products.list(
                org_id=org_id, before=before, limit=limit, filters=filters
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
        async with self._uow() as uow:
            return await uow.stock.list(
                org_id=org_id,
                after_sku=after_sku,
                limit=limit,
                skus=skus,
                available_lt=available_lt,
            )
