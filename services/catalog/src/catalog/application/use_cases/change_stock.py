"""Set or adjust a SKU's on-hand stock; on-hand never drops below what is reserved."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import StockLevel, UnitOfWork, UnitOfWorkFactory
from catalog.domain.errors import ProductNotFoundError, StockVersionConflictError
from catalog.domain.model import Product, StockItem
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.idempotency import IdempotentAnswer, IdempotentRequest, claim, complete

__all__ = ["ChangeStock"]

ADJUST = "adjust_stock"


class ChangeStock:
    """Writers set on-hand to a count (a stock take), or adjust it by a delta with a reason.

    The product row is locked, then its stock row (the same order everywhere), so the change
    and the product's version move together (emits ``stock.level_changed``). The product and
    its stock level are one aggregate: they share the product's ``version``. An adjustment is
    not idempotent by nature: :meth:`adjust_once` applies it at most once per Idempotency-Key.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def set(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        sku: str,
        on_hand: int,
        expected_version: int | None = None,
    ) -> tuple[Product, StockItem]:
        """Set on-hand to ``on_hand``.

        Raises:
            StockVersionConflictError: ``expected_version`` is given and is not current.
            InsufficientStockError: ``on_hand`` is below what is reserved.
        """
        return await self._change(
            principal,
            org_id,
            sku,
            delta=None,
            on_hand=on_hand,
            reason=None,
            expected_version=expected_version,
        )

    async def adjust(
        self, principal: Principal, *, org_id: uuid.UUID, sku: str, delta: int, reason: str
    ) -> tuple[Product, StockItem]:
        """Add ``delta`` (negative to remove) to on-hand, for ``reason``."""
        return await self._change(
            principal,
            org_id,
            sku,
            delta=delta,
            on_hand=None,
            reason=reason,
            expected_version=None,
        )

    async def adjust_once(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        sku: str,
        delta: int,
        reason: str,
        request: IdempotentRequest[StockLevel],
    ) -> IdempotentAnswer:
        """Adjust unless ``request``'s key already did; the response to send.

        Raises:
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the same request is still in flight (409).
        """
        POLICY.require(principal, "stock.write", org_id=org_id, not_found=ProductNotFoundError)
        key_scope = f"{org_id}:{ADJUST}"
        async with self._uow() as uow:
            replay = await claim(uow, key_scope, request)
            if replay is not None:
                return replay
            level = await self._apply(
                uow,
                principal,
                org_id,
                sku,
                delta=delta,
                on_hand=None,
                reason=reason,
                expected_version=None,
            )
            answer = await complete(uow, key_scope, request, level)
            await uow.commit()
        return answer

    async def _change(
        self,
        principal: Principal,
        org_id: uuid.UUID,
        sku: str,
        *,
        delta: int | None,
        on_hand: int | None,
        reason: str | None,
        expected_version: int | None,
    ) -> tuple[Product, StockItem]:
        POLICY.require(principal, "stock.write", org_id=org_id, not_found=ProductNotFoundError)
        async with self._uow() as uow:
            level = await self._apply(
                uow,
                principal,
                org_id,
                sku,
                delta=delta,
                on_hand=on_hand,
                reason=reason,
                expected_version=expected_version,
            )
            await uow.commit()
        return level

    async def _apply(
        self,
        uow: UnitOfWork,
        principal: Principal,
        org_id: uuid.UUID,
        sku: str,
        *,
        delta: int | None,
        on_hand: int | None,
        reason: str | None,
        expected_version: int | None,
    ) -> tuple[Product, StockItem]:
        product = await uow.products.get_by_sku(org_id=org_id, sku=sku, for_update=True)
        if product is None:
            raise ProductNotFoundError()
        stock = await uow.stock.get(org_id=org_id, product_id=product.id, for_update=True)
        if stock is None:
            raise ProductNotFoundError()
        if expected_version is not None and expected_version != product.version:
            raise StockVersionConflictError(details={"version": product.version})
        target = on_hand if on_hand is not None else stock.on_hand + (delta or 0)
        stock.change_on_hand(
            product,
            on_hand=target,
            reason=reason,
            set_=on_hand is not None,
            by=principal.user_id,
            now=self._clock.now(),
        )
        await uow.products.save(product)
        await uow.stock.save(stock)
        uow.record(stock.pull_events())
        return product, stock
