"""Payment authorised (``payment.authorized``): an order awaiting payment is confirmed
(``order.confirmed``, catalog then commits the stock)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order
from orders.domain.values import Money

__all__ = ["OnPaymentAuthorized", "PaymentAuthorizedInput"]


@dataclass(frozen=True, slots=True)
class PaymentAuthorizedInput:
    """Payments' authorisation of the order's total."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    payment_id: uuid.UUID
    amount: Money


class OnPaymentAuthorized(SagaStep[PaymentAuthorizedInput]):
    """Terminal for an order awaiting payment; a cancelling one ignores it (payments voids)."""

    def advance(self, order: Order, reply: PaymentAuthorizedInput) -> bool:
        """See :meth:`Order.payment_authorized`."""
        return order.payment_authorized(
            payment_id=reply.payment_id, amount=reply.amount, now=self._clock.now()
        )
