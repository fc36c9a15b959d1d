"""Create a product: a SKU unique in the org, a name, a price; its stock level starts at zero."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWork, UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Money, Product, StockItem
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.idempotency import IdempotentAnswer, IdempotentRequest, claim, complete

__all__ = ["CreateProduct", "CreateProductInput"]

OPERATION = "create_product"


@dataclass(frozen=True, slots=True)
class CreateProductInput:
    """What the caller sends."""

    org_id: uuid.UUID
    sku: str
    name: str
    price: Money
    description: str | None = None


class CreateProduct:
    """Writers add products to their org; the SKU must be new in the org (409 otherwise).

    Through :meth:`once`, a request carrying an Idempotency-Key creates the product at most
    once: the key's record commits in the same transaction as the product.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, new_id: Callable[[], uuid.UUID]
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id

    async def __call__(self, principal: Principal, command: CreateProductInput) -> Product:
        """Create the product and its empty stock level; emits ``product.created``."""
        self._authorize(principal, command)
        async with self._uow() as uow:
            product = await self._create(uow, command)
            await uow.commit()
        return product

    async def once(
        self,
        principal: Principal,
        command: CreateProductInput,
        request: IdempotentRequest[Product],
    ) -> IdempotentAnswer:
        """Create the product unless ``request``'s key already did; the response to send.

        Raises:
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the same request is still in flight (409).
        """
        self._authorize(principal, command)
        key_scope = f"{command.org_id}:{OPERATION}"
        async with self._uow() as uow:
            replay = await claim(uow, key_scope, request)
            if replay is not None:
                return replay
            product = await self._create(uow, command)
            answer = await complete(uow, key_scope, request, product)
            await uow.commit()
        return answer

    @staticmethod
    def _authorize(principal: Principal, command: CreateProductInput) -> None:
        POLICY.require(
            principal, "catalog.write", org_id=command.org_id, not_found=ProductNotFoundError
        )

    async def _create(self, uow: UnitOfWork, command: CreateProductInput) -> Product:
        product = Product.create(
            id=self._new_id(),
            org_id=command.org_id,
            sku=command.sku,
            name=command.name,
            price=command.price,
            now=self._clock.now(),
            description=command.description,
        )
        await uow.products.add(product)
        await uow.stock.add(StockItem(product.id, product.org_id, product.sku))
        uow.record(product.pull_events())
        return product
