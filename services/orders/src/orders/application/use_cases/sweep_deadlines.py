"""Act on passed saga deadlines: a step that took too long is cancelled (``stock_timeout`` while
pending, ``payment_timeout`` while awaiting payment), and a cancelling order whose compensations
were not answered in time asks for them again (catalog's release is idempotent).

One batch per transaction, rows taken with ``FOR UPDATE SKIP LOCKED``: several sweepers share
the work, and an order busy with a saga reply is simply picked up by the next sweep.
"""

from __future__ import annotations

from orders.application.ports import UnitOfWorkFactory
from orders.domain.values import Deadlines
from shared.clock import Clock

__all__ = ["SweepDeadlines"]


class SweepDeadlines:
    """Time out the orders whose current step's deadline passed."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, deadlines: Deadlines) -> None:
        self._uow, self._clock, self._deadlines = uow, clock, deadlines

    async def __call__(self, *, batch: int = 100) -> int:
        """Handle up to ``batch`` due orders; return how many were due (``batch``: call again)."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.orders.lock_due(now=now, limit=batch)
            for order in due:
                if order.time_out(now=now, deadlines=self._deadlines):
                    await uow.orders.save(order)
                    uow.record(order.pull_events())
            await uow.commit()
        return len(due)
