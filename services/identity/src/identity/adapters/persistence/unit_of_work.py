"""Identity's unit of work: the chassis' ``SqlaUnitOfWork`` with identity's repositories.

Recorded domain events go to the chassis as outbox messages (``identity.events``) and are
written in the same transaction as the rows they describe.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.messaging.events import to_message
from identity.adapters.persistence.repositories import (
    SqlaMembershipRepository,
    SqlaOrgRepository,
    SqlaRefreshTokenRepository,
    SqlaSigningKeyRepository,
    SqlaUserRepository,
)
from identity.adapters.persistence.tables import idempotency_keys
from identity.domain.events import DomainEvent
from shared.db import SqlaUnitOfWork
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.errors import ConflictError
from shared.outbox import Doorbell, Outbox, OutboxMessage

__all__ = ["IdentityUnitOfWork"]


def _map(event: object) -> OutboxMessage:
    """The chassis' event mapper (for tracked aggregates): identity's domain events only."""
    if not isinstance(event, DomainEvent):
        raise TypeError(f"not an identity event: {type(event).__name__}")
    return to_message(event)


class IdentityUnitOfWork(SqlaUnitOfWork):
    """Implements identity's ``UnitOfWork`` port on the chassis unit of work."""

    orgs: SqlaOrgRepository
    users: SqlaUserRepository
    memberships: SqlaMembershipRepository
    refresh_tokens: SqlaRefreshTokenRepository
    signing_keys: SqlaSigningKeyRepository
    idempotency: SqlaIdempotencyRecords

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
        self.orgs = SqlaOrgRepository(session)
        self.users = SqlaUserRepository(session)
        self.memberships = SqlaMembershipRepository(session)
        self.refresh_tokens = SqlaRefreshTokenRepository(session)
        self.signing_keys = SqlaSigningKeyRepository(session)
        self.idempotency = SqlaIdempotencyRecords(session, idempotency_keys)
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
