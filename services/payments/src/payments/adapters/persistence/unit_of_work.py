"""Payments' unit of work: the chassis' ``SqlaUnitOfWork`` with payments' repository.

Recorded domain events become outbox rows (``payments.events``) in the same transaction as the
payment they describe (and, in the consumer, as the inbox claim of the event that caused them).
After a commit that made work due, the worker's doorbell rings, so the worker starts at once
instead of at its next poll.
"""

from __future__ import annotations

from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments.adapters.messaging.events import to_message
from payments.adapters.persistence.repository import SqlaPaymentRepository
from shared.db import SqlaUnitOfWork
from shared.outbox import Doorbell, Outbox

__all__ = ["PaymentsUnitOfWork"]


class PaymentsUnitOfWork(SqlaUnitOfWork):
    """Implements payments' ``UnitOfWork`` port on the chassis unit of work.

    Args:
        sessions: the service's session factory.
        outbox: writes ``payments.events`` rows into the transaction.
        doorbell: wakes the outbox relay after a commit that wrote rows.
        worker_doorbell: wakes the payment worker after a commit that made work due.
    """

    payments: SqlaPaymentRepository

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbox: Outbox,
        doorbell: Doorbell | None = None,
        worker_doorbell: Doorbell | None = None,
    ) -> None:
        super().__init__(sessions, outbox=outbox, mapper=to_message, doorbell=doorbell)
        self._worker_doorbell = worker_doorbell
        self._wake = False

    async def __aenter__(self) -> Self:
        """Begin the transaction and bind the repository to its session."""
        await super().__aenter__()
        self._wake = False
        self.payments = SqlaPaymentRepository(self.session)
        return self

    def wake_worker(self) -> None:
        """Ring the worker's doorbell once this transaction has committed."""
        self._wake = True

    async def commit(self) -> None:
        """Commit (outbox rows included), then ring the worker if work became due."""
        await super().commit()
        if self._wake and self._worker_doorbell is not None:
            self._worker_doorbell.ring()
