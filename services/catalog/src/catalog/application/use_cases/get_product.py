"""Read one product of the caller's org with its stock level."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal

__all__ = ["GetProduct"]


class GetProduct:
    """Every member reads their org's products; another org's product is not found."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, product_id: uuid.UUID
    ) -> tuple[Product, StockItem]:
        """Return the product and its stock level."""
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=ProductNotFoundError)
        async with self._uow() as uow:
            product = await uow.products.get(org_id=org_id, product_id=product_id)
            stock = await uow.stock.get(org_id=org_id, product_id=product_id)
        if product is None or stock is None:
            raise ProductNotFoundError()
        return product, stock
