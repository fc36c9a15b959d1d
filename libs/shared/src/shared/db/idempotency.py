"""PostgreSQL adapter of :class:`shared.idempotency.IdempotencyRecords`.

One row per ``(scope, key)``, written in the caller's transaction. The claim takes a
transaction-scoped advisory lock on the key with ``pg_try_advisory_xact_lock``: a concurrent
twin does not wait behind the first request (which could take seconds) but learns at once
that it is in flight (409). The lock goes with the transaction, so a crash or rollback frees
the key together with the claim row; a committed row answers every later request until it
expires (24 h by default, see :func:`purge_idempotency_records`).

A service adds :func:`idempotency_table` to its metadata, creates it in a migration with
:func:`upgrade_idempotency` / :func:`downgrade_idempotency`, and binds
:class:`SqlaIdempotencyRecords` to the unit of work's session.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.clock import Clock, SystemClock
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotentResponse,
)

__all__ = [
    "DEFAULT_TTL",
    "SqlaIdempotencyRecords",
    "downgrade_idempotency",
    "idempotency_table",
    "purge_idempotency_records",
    "upgrade_idempotency",
]

DEFAULT_TTL = timedelta(hours=24)
_TABLE = "idempotency_keys"


def _columns() -> list[Any]:
    return [
        Column("scope", String(200), primary_key=True),
        Column("key", String(255), primary_key=True),
        Column("fingerprint", String(64), nullable=False),
        Column("status_code", Integer, nullable=True),
        Column("response_body", JSONB, nullable=True),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False),
    ]


def idempotency_table(metadata: MetaData, name: str = _TABLE) -> Table:
    """The records table, declared on ``metadata`` (so drift tests see it)."""
    return Table(name, metadata, *_columns(), Index(f"ix_{name}_expires_at", "expires_at"))


def upgrade_idempotency(op: Any, name: str = _TABLE) -> None:
    """Create the table and its index; call from a service's Alembic ``upgrade()``."""
    op.create_table(name, *_columns())
    op.create_index(f"ix_{name}_expires_at", name, ["expires_at"])


def downgrade_idempotency(op: Any, name: str = _TABLE) -> None:
    """Drop what :func:`upgrade_idempotency` created."""
    op.drop_index(f"ix_{name}_expires_at", table_name=name)
    op.drop_table(name)


class SqlaIdempotencyRecords:
    """Idempotency records in ``table``, inside ``session``'s open transaction.

    Args:
        session: the unit of work's session (its transaction carries the claim).
        table: from :func:`idempotency_table`.
        ttl: how long a completed key answers with its stored response.
        clock: for ``created_at`` / ``expires_at``.
    """

    def __init__(
        self,
        session: AsyncSession,
        table: Table,
        *,
        ttl: timedelta = DEFAULT_TTL,
        clock: Clock | None = None,
    ) -> None:
        self._session = session
        self._table = table
        self._ttl = ttl
        self._clock = clock or SystemClock()

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        """See :meth:`shared.idempotency.IdempotencyRecords.claim`."""
        locked = await self._session.scalar(
            select(func.pg_try_advisory_xact_lock(func.hashtextextended(f"{scope}\x1f{key}", 0)))
        )
        if not locked:
            raise IdempotencyInProgressError()
        t = self._table
        now = self._clock.now()
        row = (
            await self._session.execute(
                select(t.c.fingerprint, t.c.status_code, t.c.response_body, t.c.expires_at).where(
                    t.c.scope == scope, t.c.key == key
                )
            )
        ).one_or_none()
        if row is not None and row.expires_at > now:
            if row.fingerprint != fingerprint:
                raise IdempotencyKeyReusedError()
            if row.status_code is None:  # claimed and committed without a response: a bug
                raise IdempotencyInProgressError()
            return IdempotentResponse(row.status_code, dict(row.response_body or {}))
        if row is not None:  # expired: the key is free again
            await self._session.execute(delete(t).where(t.c.scope == scope, t.c.key == key))
        await self._session.execute(
            insert(t).values(
                scope=scope,
                key=key,
                fingerprint=fingerprint,
                created_at=now,
                expires_at=now + self._ttl,
            )
        )
        return None

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        """See :meth:`shared.idempotency.IdempotencyRecords.complete`."""
        t = self._table
        result = await self._session.execute(
            update(t)
            .where(t.c.scope == scope, t.c.key == key)
            .values(status_code=response.status_code, response_body=response.body)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            raise RuntimeError(f"idempotency key {key!r} in {scope!r} was not claimed")


async def purge_idempotency_records(session: AsyncSession, table: Table, now: datetime) -> int:
    """Delete records that expired before ``now``; returns how many (the caller commits)."""
    result = await session.execute(delete(table).where(table.c.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
