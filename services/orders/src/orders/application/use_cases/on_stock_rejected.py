"""Stock refused (``stock.rejected``): a pending order is rejected (``order.rejected``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from orders.application.use_cases._saga import SagaStep
from orders.domain.model import Order
from orders.domain.values import RejectedLine

__all__ = ["OnStockRejected", "StockRejectedInput"]


@dataclass(frozen=True, slots=True)
class StockRejectedInput:
    """Catalog's refusal and its reasons."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    reason: str
    rejected_lines: Sequence[RejectedLine]


class OnStockRejected(SagaStep[StockRejectedInput]):
    """Terminal for a pending order; a cancelling one waits for ``stock.released`` instead."""

    def advance(self, order: Order, reply: StockRejectedInput) -> bool:
        """See :meth:`Order.stock_rejected`."""
        return order.stock_rejected(
            reason=reply.reason, rejected_lines=reply.rejected_lines, now=self._clock.now()
        )
