"""Cancel an order before it is confirmed: it is cancelling at once (``order.cancel_requested``)
and cancelled when catalog has released its stock. Naturally idempotent: cancelling a cancelling
or cancelled order returns it unchanged; a confirmed or rejected one is 409
``order.not_cancellable``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from orders.application.permissions import POLICY
from orders.application.ports import UnitOfWorkFactory
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from orders.domain.values import Deadlines
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.resilience.retry import RECONNECT, retry_transient

__all__ = ["CancelOrder", "CancelOrderInput"]


@dataclass(frozen=True, slots=True)
class CancelOrderInput:
    """Which order, and an optional note kept with it."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    note: str | None = None


class CancelOrder:
    """Owners, admins and members cancel their org's orders until they are confirmed."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, deadlines: Deadlines) -> None:
        self._uow, self._clock, self._deadlines = uow, clock, deadlines

    @retry_transient(RECONNECT, operation="orders.cancel_order")
    async def __call__(self, principal: Principal, command: CancelOrderInput) -> Order:
        """Request the compensations (once) and return the order as it is now.

        The order is looked up before the role is checked: another org's order is 404 for
        every caller, whatever their role (existence never leaks as a 403). Run again once on a
        fresh connection when the pooled one was dead: its transaction had not committed.
        """
        async with self._uow() as uow:
            order = await uow.orders.get(
                org_id=command.org_id, order_id=command.order_id, for_update=True
            )
            if order is None or order.org_id != principal.org_id:
                raise OrderNotFoundError()
            POLICY.require(
                principal, "orders.cancel", org_id=order.org_id, not_found=OrderNotFoundError
            )
            changed = order.cancel(
                by=principal.user_id,
                note=command.note,
                now=self._clock.now(),
                deadlines=self._deadlines,
            )
            if changed:
                await uow.orders.save(order)
                uow.record(order.pull_events())
                await uow.commit()
        return order
