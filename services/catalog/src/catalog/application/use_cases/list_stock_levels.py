"""List the caller's org's stock levels by SKU, a page at a time, optionally only low stock."""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Sequence

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal
from shared.errors import ValidationError
from shared.pagination import MAX_LIMIT, Page, check_limit, page_of

__all__ = ["ListStockLevels"]

_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _encode(sku: str) -> str:
    return base64.urlsafe_b64encode(sku.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    """The SKU a cursor carries; anything else is a 422 (never a 500, never a silent restart)."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        sku = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValidationError("The cursor is not valid.") from exc
    if not _SKU.fullmatch(sku):
        raise ValidationError("The cursor is not valid.")
    return sku


class ListStockLevels:
    """Every member lists their org's stock levels, ordered by SKU (opaque SKU cursor)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

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
        after = _decode(cursor) if cursor else None
        async with self._uow() as uow:
            rows = await uow.stock.list(
                org_id=org_id,
                after_sku=after,
                limit=limit + 1,
                skus=skus,
                available_lt=available_lt,
            )
        return page_of(rows, limit, lambda row: _encode(row[1].sku))
