"""List the caller's org's stock levels by SKU, a page at a time, optionally only low stock."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from catalog.application.permissions import POLICY
from catalog.application.ports import CatalogReads
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal
from shared.errors import ValidationError
from shared.pagination import (
    MAX_LIMIT,
    Page,
    check_limit,
    decode_key_cursor,
    encode_cursor,
    page_of,
)

__all__ = ["ListStockLevels"]


class ListStockLevels:
    """Every member lists their org's stock levels, ordered by SKU (the cursor carries the last
    SKU and is bound to the filters, like every list's)."""

    def __init__(self, source: CatalogReads) -> None:
        self._source = source

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None,
        limit: int = 20,
        skus: Sequence[str] | None = None,
        available_lt: int | None = None,
    ) -> Page[tuple[Product, StockItem]]:
        """Return up to ``limit`` (1..100) stock levels after ``cursor``, filtered."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        check_limit(limit)
        if skus is not None and len(skus) > MAX_LIMIT:
            raise ValidationError("At most 100 SKUs per request.")
        bound = {"skus": sorted(skus) if skus is not None else None, "available_lt": available_lt}
        after = decode_key_cursor(cursor, bound)
        rows = await self._source.stock_levels(
            org_id=org_id,
            after_sku=after,
            limit=limit + 1,
            skus=skus,
            available_lt=available_lt,
        )
        return page_of(rows, limit, lambda row: encode_cursor(row[1].sku, bound))
