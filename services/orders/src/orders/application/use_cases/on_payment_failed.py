"""Payment failed for good (``payment.failed``): an order awaiting payment is cancelled, which
starts the compensations (``order.cancel_requested``, reason ``payment_failed``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order

__all__ = ["OnPaymentFailed", "PaymentFailedInput"]


@dataclass(frozen=True, slots=True)
class PaymentFailedInput:
    """Payments' refusal."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    payment_id: uuid.UUID


class OnPaymentFailed(SagaStep[PaymentFailedInput]):
    """An order awaiting payment starts cancelling; any other status ignores the reply."""

    def advance(self, order: Order, reply: PaymentFailedInput) -> bool:
        """See :meth:`Order.payment_failed`."""
        return order.payment_failed(
            payment_id=reply.payment_id, now=self._clock.now(), deadlines=self._deadlines
        )
