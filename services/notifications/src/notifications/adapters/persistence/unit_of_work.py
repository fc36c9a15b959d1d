"""Notifications' unit of work: the chassis' ``SqlaUnitOfWork`` with notifications' repositories.

Recorded delivery outcomes become outbox rows (``notifications.events``) in the same transaction
as the delivery they describe. Scheduling deliveries (in the consumer's transaction) rings the
worker's doorbell after the commit, so new deliveries go out at once rather than at the next poll.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.adapters.messaging.events import to_message
from notifications.adapters.persistence.deliveries import SqlaDeliveryRepository, SqlaHousekeeping
from notifications.adapters.persistence.endpoints import SqlaEndpointRepository
from notifications.adapters.persistence.tables import idempotency_keys
from notifications.domain.delivery import Delivery
from shared.clock import Clock
from shared.db import SqlaUnitOfWork
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.outbox import Doorbell, Outbox

__all__ = ["NotificationsUnitOfWork"]


class _CountingDeliveries(SqlaDeliveryRepository):
    """Remembers whether this transaction scheduled deliveries (to ring the worker)."""

    scheduled = 0

    async def add_many(self, new: Iterable[Delivery]) -> int:
        """Insert; count what was new."""
        created = await super().add_many(new)
        self.scheduled += created
        return created


class NotificationsUnitOfWork(SqlaUnitOfWork):
    """Implements notifications' ``UnitOfWork`` port on the chassis unit of work.

    Args:
        sessions: the service's session factory.
        outbox: writes ``notifications.events`` rows.
        doorbell: rung after a commit that wrote outbox rows (wakes the relay).
        deliveries_doorbell: rung after a commit that scheduled deliveries (wakes the worker).
        clock: the idempotency records' clock.
    """

    conflict_on_integrity_error = True  # two requests creating one thing: 409

    endpoints: SqlaEndpointRepository
    deliveries: _CountingDeliveries
    idempotency: SqlaIdempotencyRecords
    housekeeping: SqlaHousekeeping

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        doorbell: Doorbell | None = None,
        deliveries_doorbell: Doorbell | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sessions, outbox=outbox, mapper=to_message, doorbell=doorbell)
        self._deliveries_doorbell = deliveries_doorbell
        self._clock = clock

    async def __aenter__(self) -> Self:
        """Begin the transaction and bind the repositories to its session."""
        await super().__aenter__()
        session = self.session
        self.endpoints = SqlaEndpointRepository(session)
        self.deliveries = _CountingDeliveries(session)
        self.idempotency = SqlaIdempotencyRecords(session, idempotency_keys, clock=self._clock)
        self.housekeeping = SqlaHousekeeping(session)
        return self

    async def commit(self) -> None:
        """Commit (outbox rows included); a unique violation at commit is a 409."""
        await super().commit()
        if self.deliveries.scheduled and self._deliveries_doorbell is not None:
            self._deliveries_doorbell.ring()
