"""Stop paying for a cancelled order (``order.cancel_requested``), voiding what may be held.

A pending payment that never reached the provider is simply cancelled. One that did, or one
already authorised, goes to ``voiding``: the worker voids the authorisation (or makes sure the
provider holds none) and publishes ``payment.voided``. A cancel for an order payments never saw
leaves a tombstone, so a late payment request does nothing. Repeating a cancel changes nothing.

``order.cancelled`` (the order closed) asks the same again, so an authorisation is voided even
if the ``order.cancel_requested`` before it never took effect here (dead-lettered); it leaves no
tombstone: its payment request, if any, came before it on the order's partition.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from payments.application.ports import UnitOfWork, UnitOfWorkFactory
from payments.domain.payment import CancelledOrder, Payment
from shared.clock import Clock

__all__ = ["CancelPayment", "CancelPaymentInput"]


@dataclass(frozen=True, slots=True)
class CancelPaymentInput:
    """The cancelled order, and the id of the event that asked (``causation_id``).

    ``order_closed``: the order is cancelled already (``order.cancelled``), not only asked to be.
    """

    org_id: uuid.UUID
    order_id: uuid.UUID
    causation_id: uuid.UUID
    order_closed: bool = False


class CancelPayment:
    """Cancel the order's payment, or remember the cancel if there is no payment yet."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, command: CancelPaymentInput) -> Payment | None:
        """Run in a transaction of its own; return the payment (None if there was none)."""
        async with self._uow() as uow:
            payment = await self.apply(uow, command)
            await uow.commit()
        return payment

    async def apply(self, uow: UnitOfWork, command: CancelPaymentInput) -> Payment | None:
        """Run inside ``uow`` (the consumer's, committed together with the inbox claim)."""
        now = self._clock.now()
        await uow.payments.lock_order(order_id=command.order_id)
        payment = await uow.payments.get_by_order(
            org_id=command.org_id, order_id=command.order_id, for_update=True
        )
        if payment is None:
            if command.order_closed:
                return None  # nothing can follow a closed order's last event
            if not await uow.payments.get_tombstone(
                org_id=command.org_id, order_id=command.order_id
            ):
                await uow.payments.add_tombstone(
                    CancelledOrder(command.org_id, command.order_id, command.causation_id, now)
                )
            return None
        if payment.request_cancel(command.causation_id, now):
            uow.wake_worker()
        await uow.payments.save(payment)
        return payment
