"""Catalog's unit of work: the chassis' ``SqlaUnitOfWork`` with catalog's repositories.

Recorded domain events become outbox rows (``catalog.events``) in the same transaction as the
rows they describe (and, in the consumer, as the inbox claim of the event that caused them),
and so do Idempotency-Key records. Once the transaction has committed (or its commit failed
in a way that may have committed), ``after_commit`` receives the messages it wrote: catalog
invalidates the cache entries they touch there, for API writes and saga steps alike.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Self

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.adapters.messaging.events import to_message
from catalog.adapters.persistence.repositories import SqlaProductRepository, SqlaStockRepository
from catalog.adapters.persistence.reservations import SqlaReservationRepository
from catalog.adapters.persistence.tables import idempotency_keys, jobs
from shared.db import SqlaUnitOfWork
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.jobs.sqla import SqlaJobRecords
from shared.outbox import Doorbell, Outbox, OutboxMessage

__all__ = ["AfterCommit", "CatalogUnitOfWork"]

AfterCommit = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
"""Told which messages a transaction wrote once it committed (cache invalidation)."""

log = structlog.get_logger(__name__)


class CatalogUnitOfWork(SqlaUnitOfWork):
    """Implements catalog's ``UnitOfWork`` port on the chassis unit of work."""

    conflict_on_integrity_error = True  # two requests creating one thing: 409

    products: SqlaProductRepository
    stock: SqlaStockRepository
    reservations: SqlaReservationRepository
    idempotency: SqlaIdempotencyRecords
    jobs: SqlaJobRecords

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        doorbell: Doorbell | None = None,
        after_commit: AfterCommit | None = None,
    ) -> None:
        super().__init__(sessions, outbox=outbox, mapper=to_message, doorbell=doorbell)
        self._after_commit = after_commit
        self._written: list[OutboxMessage] = []

    async def __aenter__(self) -> Self:
        """Begin the transaction and bind the repositories to its session."""
        await super().__aenter__()
        session = self.session
        self.products = SqlaProductRepository(session)
        self.stock = SqlaStockRepository(session)
        self.reservations = SqlaReservationRepository(session)
        self.idempotency = SqlaIdempotencyRecords(session, idempotency_keys)
        self.jobs = SqlaJobRecords(session, jobs)
        self._written = []
        return self

    def publish(self, *messages: OutboxMessage) -> None:
        """Stage messages (recorded events come through here too) and remember them."""
        self._written.extend(messages)
        super().publish(*messages)

    async def commit(self) -> None:
        """Commit (outbox rows included); a unique violation at commit is a 409.

        ``after_commit`` runs afterwards even if the commit raised: a timed-out COMMIT may
        still have committed, and invalidating what did not change costs one reload.
        """
        try:
            await super().commit()
        finally:
            await self._notify()

    async def _notify(self) -> None:
        written, self._written = self._written, []
        if self._after_commit is None or not written:
            return
        try:
            await self._after_commit(written)
        except Exception:
            # The write stands; a cache that missed it is bounded by its TTL (and the event).
            log.exception("after_commit_failed", messages=len(written))
