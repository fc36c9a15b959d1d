"""List the caller's org's products, a page at a time (opaque cursor bound to the filters)."""

from __future__ import annotations

import uuid
from dataclasses import asdict

from catalog.application.permissions import POLICY
from catalog.application.ports import CatalogReads, ProductFilter
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product
from shared.auth.principal import Principal
from shared.pagination import Page, check_limit, decode_cursor, encode_cursor, page_of

__all__ = ["ListProducts"]


class ListProducts:
    """Every member lists their org's products, newest first (ids are UUID v7), filtered."""

    def __init__(self, source: CatalogReads) -> None:
        self._source = source

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None,
        limit: int = 20,
        filters: ProductFilter | None = None,
    ) -> Page[Product]:
        """Return up to ``limit`` (1..100) products after ``cursor``."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        check_limit(limit)
        bound = asdict(filters or ProductFilter())  # a cursor is bound to its filters
        before = decode_cursor(cursor, bound)
        rows = await self._source.products(
            org_id=org_id, before=before, limit=limit + 1, filters=filters
        )
        return page_of(rows, limit, lambda product: encode_cursor(product.id, bound))
