"""Read the stock level of one SKU of the caller's org (through the read cache)."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import CatalogReadCache, CatalogReads
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal

__all__ = ["GetStockLevel"]


class GetStockLevel:
    """Every member reads their org's stock levels; another org's SKU is not found.

    Served through the short-lived stock cache (seconds, and invalidated by every change), so
    a level may trail a change by the invalidation lag; reservations never read it.
    """

    def __init__(self, source: CatalogReads, cache: CatalogReadCache) -> None:
        self._source, self._cache = source, cache

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, sku: str
    ) -> tuple[Product, StockItem]:
        """Return the SKU's product (for its version) and stock level."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        level = await self._cache.stock_level(
            org_id=org_id, sku=sku, load=lambda: self._source.stock_level(org_id=org_id, sku=sku)
        )
        if level is None:
            raise ProductNotFoundError()
        return level
