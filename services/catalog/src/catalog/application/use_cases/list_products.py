"""List the caller's org's products, a page at a time (opaque cursor = last product id)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from catalog.application.permissions import POLICY
from catalog.application.ports import ProductFilter, UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product
from shared.auth.principal import Principal
from shared.errors import ValidationError

__all__ = ["ListProducts", "ProductPage"]

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class ProductPage:
    """One page; ``next_cursor`` is None on the last page."""

    items: tuple[Product, ...]
    next_cursor: str | None


class ListProducts:
    """Every member lists their org's products, newest first (ids are UUID v7), filtered."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None,
        limit: int = 20,
        filters: ProductFilter | None = None,
    ) -> ProductPage:
        """Return up to ``limit`` (1..100) products after ``cursor``."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("limit must be between 1 and 100.")
        try:
            before = uuid.UUID(cursor) if cursor else None
        except ValueError as exc:
            raise ValidationError("The cursor is not valid.") from exc
        async with self._uow() as uow:
            rows = await uow.products.list(
                org_id=org_id, before=before, limit=limit + 1, filters=filters
            )
        items = tuple(rows[:limit])
        more = len(rows) > limit
        return ProductPage(items, str(items[-1].id) if more and items else None)
