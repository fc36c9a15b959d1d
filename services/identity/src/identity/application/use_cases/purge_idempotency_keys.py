"""Forget expired Idempotency-Keys (kept 24 h): past that, a key may be used afresh."""

from __future__ import annotations

from identity.application.ports import UnitOfWorkFactory
from shared.clock import Clock

__all__ = ["PurgeIdempotencyKeys"]


class PurgeIdempotencyKeys:
    """Delete the idempotency records whose time is up, in one transaction.

    One DELETE of the expired rows: running it in several processes at once (every API
    replica runs it) deletes each row once and does no harm.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self) -> int:
        """Return how many records were deleted."""
        async with self._uow() as uow:
            purged = await uow.idempotency.purge_expired(now=self._clock.now())
            await uow.commit()
        return purged
