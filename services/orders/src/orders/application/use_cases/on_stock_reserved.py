"""Stock reserved and priced (``stock.reserved``): price the lines, ask payments to authorise
the total (``order.payment_requested``) and start the payment step's deadline."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order
from orders.domain.values import Money, OrderLine

__all__ = ["OnStockReserved", "StockReservedInput"]


@dataclass(frozen=True, slots=True)
class StockReservedInput:
    """Catalog's reservation: which lines, at which prices."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    reservation_id: uuid.UUID
    lines: Sequence[OrderLine]
    total: Money


class OnStockReserved(SagaStep[StockReservedInput]):
    """A pending order moves to awaiting_payment; any other ignores the reply."""

    def advance(self, order: Order, reply: StockReservedInput) -> bool:
        """See :meth:`Order.stock_reserved`."""
        return order.stock_reserved(
            reservation_id=reply.reservation_id,
            lines=reply.lines,
            total=reply.total,
            now=self._clock.now(),
            deadlines=self._deadlines,
        )
