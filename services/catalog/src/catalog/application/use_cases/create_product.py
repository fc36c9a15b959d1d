"""Create a product: a SKU unique in the org, a name, a price; its stock level starts at zero."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Money, Product, StockItem
from shared.auth.principal import Principal
from shared.clock import Clock

__all__ = ["CreateProduct", "CreateProductInput"]


@dataclass(frozen=True, slots=True)
class CreateProductInput:
    """What the caller sends."""

    org_id: uuid.UUID
    sku: str
    name: str
    price: Money
    description: str | None = None


class CreateProduct:
    """Writers add products to their org; the SKU must be new in the org (409 otherwise)."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, new_id: Callable[[], uuid.UUID]
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id

    async def __call__(self, principal: Principal, command: CreateProductInput) -> Product:
        """Create the product and its empty stock level; emits ``product.created``."""
        POLICY.require(
            principal, "catalog.write", org_id=command.org_id, not_found=ProductNotFoundError
        )
        product = Product.create(
            id=self._new_id(),
            org_id=command.org_id,
            sku=command.sku,
            name=command.name,
            price=command.price,
            now=self._clock.now(),
            description=command.description,
        )
        async with self._uow() as uow:
            await uow.products.add(product)
            await uow.stock.add(StockItem(product.id, product.org_id, product.sku))
            uow.record(product.pull_events())
            await uow.commit()
        return product
