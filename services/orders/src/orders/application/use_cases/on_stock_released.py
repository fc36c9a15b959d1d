"""Stock released (``stock.released``): the compensations of a cancelling order are done, it is
cancelled (``order.cancelled``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order

__all__ = ["OnStockReleased", "StockReleasedInput"]


@dataclass(frozen=True, slots=True)
class StockReleasedInput:
    """Catalog released whatever it held for the order."""

    org_id: uuid.UUID
    order_id: uuid.UUID


class OnStockReleased(SagaStep[StockReleasedInput]):
    """Terminal for a cancelling order; any other status ignores the reply."""

    def advance(self, order: Order, reply: StockReleasedInput) -> bool:
        """See :meth:`Order.stock_released`."""
        return order.stock_released(now=self._clock.now())
