"""``OrderReads`` through units of work: for wirings without a dedicated read path (fakes)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from orders.application.ports import OrderFilter, UnitOfWorkFactory
from orders.domain.model import Order

__all__ = ["UnitOfWorkReads"]


class UnitOfWorkReads:
    """Each read in a unit of work of its own (the API's real reads need no transaction)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def get(self, *, org_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
        """The org's order, or None."""
        async with self._uow() as uow:
            return await uow.orders.get(org_id=org_id, order_id=order_id)

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        """Up to ``limit`` of the org's orders, newest first, older than ``before``."""
        async with self._uow() as uow:
            return await uow.orders.list(org_id=org_id, before=before, limit=limit, filters=filters)
