"""Act on passed saga deadlines: a step that took too long is cancelled (``stock_timeout`` while
pending, ``payment_timeout`` while awaiting payment), and a cancelling order whose compensations
were not answered in time asks for them again (catalog's release is idempotent).

A deadline is the customer's time, not our infrastructure's: while the saga's path is held
(:class:`orders.application.saga_path.PathGuard`: the broker, a relay or a consumer known down,
or recovering from it), a step whose deadline passed gets its time again instead, up to its hard
bound, past which it times out all the same (docs/runbooks/saga-deadlines.md).

One batch per transaction, rows taken with ``FOR UPDATE SKIP LOCKED``: several sweepers share
the work, and an order busy with a saga reply is simply picked up by the next sweep.
"""

from __future__ import annotations

from orders.application.ports import UnitOfWorkFactory
from orders.application.saga_path import OPEN_PATH, PathGuard
from orders.domain.values import Deadlines
from shared.clock import Clock

__all__ = ["SweepDeadlines"]


class SweepDeadlines:
    """Time out the orders whose current step's deadline passed, unless the path is held."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        deadlines: Deadlines,
        path: PathGuard = OPEN_PATH,
    ) -> None:
        self._uow, self._clock, self._deadlines, self._path = uow, clock, deadlines, path
        self.last_hold_reason: str | None = None

    async def __call__(self, *, batch: int = 100) -> int:
        """Handle up to ``batch`` due orders; return how many were due (``batch``: call again)."""
        now = self._clock.now()
        held = self.last_hold_reason = await self._path.hold_reason(now)
        async with self._uow() as uow:
            due = await uow.orders.lock_due(now=now, limit=batch)
            for order in due:
                if held is not None and order.hold(now=now, deadlines=self._deadlines):
                    await uow.orders.save(order)
                elif order.time_out(now=now, deadlines=self._deadlines):
                    await uow.orders.save(order)
                    uow.record(order.pull_events())
            await uow.commit()
        return len(due)
