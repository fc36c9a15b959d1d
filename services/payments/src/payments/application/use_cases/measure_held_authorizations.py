"""Measure the money that may still be held for cancelled orders: the payments in ``voiding``.

A cancelled order's authorisation must be voided (ARCHITECTURE invariant 9); the worker voids it,
retrying until the provider answers. This reading makes the wait visible: how many payments are
still voiding, and for how long the oldest has been. It is one indexed statement, run by the
worker every few seconds (never per request), and the gauges and alert rules are built on it
(infra/prometheus/rules/payments.yml).
"""

from __future__ import annotations

from dataclasses import dataclass

from payments.application.ports import UnitOfWorkFactory
from shared.clock import Clock

__all__ = ["HeldAuthorizations", "MeasureHeldAuthorizations"]


@dataclass(frozen=True, slots=True)
class HeldAuthorizations:
    """Payments of cancelled orders still voiding, and the age of the oldest in seconds."""

    count: int
    oldest_age_s: float


class MeasureHeldAuthorizations:
    """Count the voiding payments and age the oldest (0 when none)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self) -> HeldAuthorizations:
        """Read in a transaction of its own (nothing is written)."""
        async with self._uow() as uow:
            held = await uow.payments.held_for_cancelled_orders()
        if held.oldest_since is None:
            return HeldAuthorizations(held.count, 0.0)
        age = (self._clock.now() - held.oldest_since).total_seconds()
        return HeldAuthorizations(held.count, max(age, 0.0))
