"""Catalog's unit of work: the chassis' ``SqlaUnitOfWork`` with catalog's repositories.

Recorded domain events become outbox rows (``catalog.events``) in the same transaction as the
rows they describe (and, in the consumer, as the inbox claim of the event that caused them).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.adapters.messaging.events import to_message
from catalog.adapters.persistence.repositories import SqlaProductRepository, SqlaStockRepository
from catalog.adapters.persistence.reservations import SqlaReservationRepository
from catalog.domain.events import DomainEvent
from shared.db import SqlaUnitOfWork
from shared.errors import ConflictError
from shared.outbox import Doorbell, Outbox, OutboxMessage

__all__ = ["CatalogUnitOfWork"]


def _map(event: object) -> OutboxMessage:
    """The chassis' event mapper (for tracked aggregates): catalog's domain events only."""
    if not isinstance(event, DomainEvent):
        raise TypeError(f"not a catalog event: {type(event).__name__}")
    return to_message(event)


class CatalogUnitOfWork(SqlaUnitOfWork):
    """Implements catalog's ``UnitOfWork`` port on the chassis unit of work."""

    products: SqlaProductRepository
    stock: SqlaStockRepository
    reservations: SqlaReservationRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        doorbell: Doorbell | None = None,
    ) -> None:
        super().__init__(sessions, outbox=outbox, mapper=_map, doorbell=doorbell)

    async def __aenter__(self) -> Self:
        """Begin the transaction and bind the repositories to its session."""
        await super().__aenter__()
        session = self.session
        self.products = SqlaProductRepository(session)
        self.stock = SqlaStockRepository(session)
        self.reservations = SqlaReservationRepository(session)
        return self

    def record(self, events: Iterable[DomainEvent]) -> None:
        """Stage events; they become outbox rows at commit."""
        self.publish(*(to_message(event) for event in events))

    async def commit(self) -> None:
        """Commit (outbox rows included); a unique violation at commit is a 409."""
        try:
            await super().commit()
        except IntegrityError as exc:
            raise ConflictError() from exc
