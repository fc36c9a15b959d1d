"""Identity's unit of work: the chassis' ``SqlaUnitOfWork`` with identity's repositories.

Recorded domain events go to the chassis as outbox messages (``identity.events``) and are
written in the same transaction as the rows they describe.
"""

from __future__ import annotations

from typing import Self

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
from shared.db import SqlaUnitOfWork
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.outbox import Doorbell, Outbox

__all__ = ["IdentityUnitOfWork"]


class IdentityUnitOfWork(SqlaUnitOfWork):
    """Implements identity's ``UnitOfWork`` port on the chassis unit of work."""

    conflict_on_integrity_error = True  # two requests creating one thing: 409

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
        super().__init__(sessions, outbox=outbox, mapper=to_message, doorbell=doorbell)

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
