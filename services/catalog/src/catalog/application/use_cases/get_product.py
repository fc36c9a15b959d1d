"""Read one product of the caller's org with its stock level (through the read caches)."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import CatalogReadCache, CatalogReads
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal

__all__ = ["GetProduct"]


class GetProduct:
    """Every member reads their org's products; another org's product is not found.

    The product comes from the product cache, its stock level from the (shorter-lived) stock
    cache: each is as fresh as its own cache allows.
    """

    def __init__(self, source: CatalogReads, cache: CatalogReadCache) -> None:
        self._source, self._cache = source, cache

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, product_id: uuid.UUID
    ) -> tuple[Product, StockItem]:
        """Return the product and its stock level."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        product = await self._cache.product(
            org_id=org_id,
            product_id=product_id,
            load=lambda: self._source.product(org_id=org_id, product_id=product_id),
        )
        if product is None:
            raise ProductNotFoundError()
        sku = product.sku
        level = await self._cache.stock_level(
            org_id=org_id, sku=sku, load=lambda: self._source.stock_level(org_id=org_id, sku=sku)
        )
        if level is None:
            raise ProductNotFoundError()
        return product, level[1]
