"""Get one of the caller's org's orders (another org's order is 404, whatever the role)."""

from __future__ import annotations

import uuid

from orders.application.permissions import POLICY
from orders.application.ports import OrderReads
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from shared.auth.principal import Principal

__all__ = ["GetOrder"]


class GetOrder:
    """Every member of the org reads its orders."""

    def __init__(self, reads: OrderReads) -> None:
        self._reads = reads

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> Order:
        """Return the order or raise ``OrderNotFoundError``."""
        POLICY.require(principal, "orders.read", org_id=org_id, not_found=OrderNotFoundError)
        order = await self._reads.get(org_id=org_id, order_id=order_id)
        if order is None:
            raise OrderNotFoundError()
        return order
