"""Record the payment of an order when the saga asks for it (``order.payment_requested``).

One payment per order, ever: a repeated request, or one for an order whose cancel came first,
does nothing. The new payment is due at once and the worker is woken after the commit; the
provider is never called inside this (the consumer's inbox) transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from payments.application.ports import UnitOfWork, UnitOfWorkFactory
from payments.domain.payment import Payment
from payments.domain.values import Money
from shared.clock import Clock

__all__ = ["RequestPayment", "RequestPaymentInput"]


@dataclass(frozen=True, slots=True)
class RequestPaymentInput:
    """The order to pay, its amount, and the id of the event that asked (``causation_id``)."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    amount: Money
    causation_id: uuid.UUID


class RequestPayment:
    """Create the order's pending payment unless the order already has one or was cancelled."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        new_id: Callable[[], uuid.UUID],
        provider_name: str,
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id
        self._provider_name = provider_name

    async def __call__(self, command: RequestPaymentInput) -> Payment | None:
        """Run in a transaction of its own; return the order's payment (None if cancelled)."""
        async with self._uow() as uow:
            payment = await self.apply(uow, command)
            await uow.commit()
        return payment

    async def apply(self, uow: UnitOfWork, command: RequestPaymentInput) -> Payment | None:
        """Run inside ``uow`` (the consumer's, committed together with the inbox claim)."""
        await uow.payments.lock_order(order_id=command.order_id)
        if await uow.payments.get_tombstone(org_id=command.org_id, order_id=command.order_id):
            return None
        existing = await uow.payments.get_by_order(org_id=command.org_id, order_id=command.order_id)
        if existing is not None:
            return existing
        payment = Payment.request(
            id=self._new_id(),
            org_id=command.org_id,
            order_id=command.order_id,
            amount=command.amount,
            provider=self._provider_name,
            causation_id=command.causation_id,
            now=self._clock.now(),
        )
        if not await uow.payments.add(payment):
            return None  # the order id is taken (by another org's order): nothing to do
        uow.wake_worker()
        return payment
