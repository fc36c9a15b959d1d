"""Hand due payments to one worker, in a short transaction of their own.

Each claimed payment carries a token and a lease: other workers skip it (``SKIP LOCKED`` while
claiming, the lease afterwards) until its outcome is recorded or the lease runs out, which is
how the payments of a worker that died are picked up again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from payments.application.ports import UnitOfWorkFactory
from payments.domain.payment import Claim
from shared.clock import Clock

__all__ = ["ClaimDuePayments", "DueWork"]


@dataclass(frozen=True, slots=True)
class DueWork:
    """What a worker got: its claims, and when the next unclaimed payment falls due."""

    claims: Sequence[Claim]
    next_due_at: datetime | None


class ClaimDuePayments:
    """Claim up to ``limit`` payments whose next attempt is due and that nobody holds."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        new_id: Callable[[], uuid.UUID],
        lease: timedelta,
    ) -> None:
        if lease <= timedelta(0):
            raise ValueError("a lease must be positive")
        self._uow, self._clock, self._new_id, self._lease = uow, clock, new_id, lease

    async def __call__(self, limit: int) -> DueWork:
        """Claim and commit; the provider is called afterwards, outside any transaction."""
        now = self._clock.now()
        async with self._uow() as uow:
            claims: Sequence[Claim] = []
            if limit > 0:
                claims = await uow.payments.claim_due(
                    now=now, until=now + self._lease, token=self._new_id(), limit=limit
                )
            next_due_at = await uow.payments.next_due_at()
            await uow.commit()
        return DueWork(claims, next_due_at)
