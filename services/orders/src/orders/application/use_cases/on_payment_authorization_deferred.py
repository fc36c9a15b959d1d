"""Payment postponed (``payment.authorization_deferred``): the provider is unavailable and
payments tries again later, so the payment step's deadline moves past that attempt (never
beyond the step's maximum wait, never backwards)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order

__all__ = ["OnPaymentAuthorizationDeferred", "PaymentDeferredInput"]


@dataclass(frozen=True, slots=True)
class PaymentDeferredInput:
    """When payments will call the provider again."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    next_attempt_at: datetime


class OnPaymentAuthorizationDeferred(SagaStep[PaymentDeferredInput]):
    """Extends the deadline of an order awaiting payment (no event: nothing else changes)."""

    def advance(self, order: Order, reply: PaymentDeferredInput) -> bool:
        """See :meth:`Order.payment_deferred`."""
        return order.payment_deferred(
            next_attempt_at=reply.next_attempt_at,
            now=self._clock.now(),
            deadlines=self._deadlines,
        )
