"""What every saga step shares: lock the order, let it decide, save and stage its events.

A step runs inside the consumer's unit of work (``apply``), so the order's change, the outbox
rows of its events and the inbox claim of the reply commit together, or alone (``__call__``).
The order row is locked (``FOR UPDATE``) for the whole step: a reply, a cancel and the sweeper
on one order run one after the other. A reply the order ignores (late, repeated, out of order)
writes nothing; a reply for an order that does not exist is a permanent error (dead letter).
"""

from __future__ import annotations

import uuid
from typing import Generic, Protocol, TypeVar

from orders.application.ports import UnitOfWork, UnitOfWorkFactory
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from orders.domain.values import Deadlines
from shared.clock import Clock

__all__ = ["SagaStep"]


class _Reply(Protocol):
    @property
    def org_id(self) -> uuid.UUID: ...

    @property
    def order_id(self) -> uuid.UUID: ...


R = TypeVar("R", bound=_Reply)


class SagaStep(Generic[R]):
    """Base of the saga's use cases; subclasses implement :meth:`advance`."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, deadlines: Deadlines) -> None:
        self._uow, self._clock, self._deadlines = uow, clock, deadlines

    async def __call__(self, reply: R) -> Order:
        """Apply ``reply`` in a transaction of its own."""
        async with self._uow() as uow:
            order = await self.apply(uow, reply)
            await uow.commit()
        return order

    async def apply(self, uow: UnitOfWork, reply: R) -> Order:
        """Apply ``reply`` inside ``uow``; return the order as it is now."""
        order = await uow.orders.get(org_id=reply.org_id, order_id=reply.order_id, for_update=True)
        if order is None:
            raise OrderNotFoundError(details={"order_id": str(reply.order_id)})
        if self.advance(order, reply):
            await uow.orders.save(order)
            uow.record(order.pull_events())
        return order

    def advance(self, order: Order, reply: R) -> bool:
        """Move ``order`` on ``reply``; False when the order ignores it."""
        raise NotImplementedError
