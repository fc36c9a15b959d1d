"""Read the stock level of one SKU of the caller's org."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal

__all__ = ["GetStockLevel"]


class GetStockLevel:
    """Every member reads their org's stock levels; another org's SKU is not found."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, sku: str
    ) -> tuple[Product, StockItem]:
        """Return the SKU's product (for its version) and stock level."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        async with self._uow() as uow:
            product = await uow.products.get_by_sku(org_id=org_id, sku=sku)
            stock = await uow.stock.get(org_id=org_id, product_id=product.id) if product else None
        if product is None or stock is None:
            raise ProductNotFoundError()
        return product, stock
