"""Change a product's price; reservations already made keep the price they were made at."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError, ProductVersionConflictError
from catalog.domain.model import Money, Product
from shared.auth.principal import Principal
from shared.clock import Clock

__all__ = ["UpdatePrice"]


class UpdatePrice:
    """Writers change the price of their org's products (emits ``product.price_changed``)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        product_id: uuid.UUID,
        price: Money,
        expected_version: int | None = None,
    ) -> Product:
        """Return the product at its new price and version.

        Raises:
            ProductVersionConflictError: ``expected_version`` is given and is not current.
            ProductCurrencyChangeError: the price is in another currency than the product's.
        """
        POLICY.require(principal, "catalog.write", org_id=org_id, not_found=ProductNotFoundError)
        async with self._uow() as uow:
            product = await uow.products.get(org_id=org_id, product_id=product_id, for_update=True)
            if product is None:
                raise ProductNotFoundError()
            if expected_version is not None and expected_version != product.version:
                raise ProductVersionConflictError(details={"version": product.version})
            product.change_price(price, self._clock.now())
            await uow.products.save(product)
            uow.record(product.pull_events())
            await uow.commit()
        return product
