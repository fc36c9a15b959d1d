"""Orders' unit of work: the chassis' ``SqlaUnitOfWork`` with orders' repository and
idempotency records.

Recorded domain events become outbox rows (``orders.events``) in the same transaction as the
order they describe, the idempotency record of the request that caused them (HTTP) or the inbox
claim of the reply that caused them (consumer). After a commit that wrote events the doorbell
wakes the relay at once, so the saga does not wait for the relay's polling interval.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orders.adapters.messaging.events import to_message
from orders.adapters.persistence.repositories import SqlaOrderRepository
from orders.adapters.persistence.tables import idempotency_keys
from shared.clock import Clock
from shared.db import SqlaUnitOfWork
from shared.db.idempotency import DEFAULT_TTL, SqlaIdempotencyRecords
from shared.outbox import Doorbell, Outbox

__all__ = ["OrdersUnitOfWork"]


class OrdersUnitOfWork(SqlaUnitOfWork):
    """Implements orders' ``UnitOfWork`` port on the chassis unit of work."""

    orders: SqlaOrderRepository
    idempotency: SqlaIdempotencyRecords

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        doorbell: Doorbell | None = None,
        *,
        idempotency_ttl: timedelta = DEFAULT_TTL,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sessions, outbox=outbox, mapper=to_message, doorbell=doorbell)
        self._idempotency_ttl = idempotency_ttl
        self._clock = clock

    async def __aenter__(self) -> Self:
        """Begin the transaction and bind the repositories to its session."""
        await super().__aenter__()
        session = self.session
        self.orders = SqlaOrderRepository(session)
        self.idempotency = SqlaIdempotencyRecords(
            session, idempotency_keys, ttl=self._idempotency_ttl, clock=self._clock
        )
        return self
