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
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    column,
    delete,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.selectable import TextualSelect

from shared import pii
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
        Column(
            "scope",
            String(200),
            primary_key=True,
            info=pii.pseudonymous_id(
                "operation and caller; sign-up's holds a SHA-256 of the email"
            ),
        ),
        Column("key", String(255), primary_key=True, info=pii.none()),
        Column("fingerprint", String(64), nullable=False, info=pii.none()),
        Column("status_code", Integer, nullable=True, info=pii.none()),
        Column(
            "response_body",
            JSONB,
            nullable=True,
            info=pii.secret("the first answer, replayed: sign-up's holds tokens"),
        ),
        Column("created_at", DateTime(timezone=True), nullable=False, info=pii.none()),
        Column("expires_at", DateTime(timezone=True), nullable=False, info=pii.none()),
    ]


def idempotency_table(metadata: MetaData, name: str = _TABLE) -> Table:
    """The records table, declared on ``metadata`` (so drift tests see it)."""
    return Table(
        name,
        metadata,
        *_columns(),
        Index(f"ix_{name}_expires_at", "expires_at"),
        info=pii.held_for(
            "Idempotency-Key records: a retry gets the first answer", retention="idempotency-keys"
        ),
    )


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

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete the records that expired before ``now`` (committed with the transaction)."""
        return await purge_idempotency_records(self._session, self._table, now)

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        """See :meth:`shared.idempotency.IdempotencyRecords.claim` (one round trip)."""
        now = self._clock.now()
        row = (
            await self._session.execute(
                self._claim_sql,
                {
                    "lock": f"{scope}\x1f{key}",
                    "scope": scope,
                    "key": key,
                    "fingerprint": fingerprint,
                    "now": now,
                    "expires": now + self._ttl,
                },
            )
        ).one()
        if not row.locked:
            raise IdempotencyInProgressError()
        if row.inserted:
            return None
        if row.fingerprint is None:
            # A twin committed its claim after this statement's snapshot was taken: it is
            # (or just was) in flight; a retry sees its response.
            raise IdempotencyInProgressError()
        if row.fingerprint != fingerprint:
            raise IdempotencyKeyReusedError()
        if row.status_code is None:  # claimed and committed without a response: a bug
            raise IdempotencyInProgressError()
        return IdempotentResponse(row.status_code, dict(row.response_body or {}))

    @property
    def _claim_sql(self) -> TextualSelect:
        return _claim_statement(self._table)

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


@lru_cache(maxsize=32)
def _claim_statement(table: Table) -> TextualSelect:
    """Lock the key, read a live record, insert the claim if there is none: one statement.

    The advisory lock is taken first (``lock`` feeds ``ins``); a record whose TTL ran out is
    replaced in place by the new claim (``ON CONFLICT ... WHERE expires_at <= now``).
    """
    name = ".".join(f'"{part}"' for part in (table.schema, table.name) if part)
    return text(
        f"""
        WITH lock AS (
            SELECT pg_try_advisory_xact_lock(hashtextextended(:lock, 0)) AS locked
        ),
        live AS (
            SELECT fingerprint, status_code, response_body FROM {name}
            WHERE scope = :scope AND key = :key AND expires_at > :now
        ),
        ins AS (
            INSERT INTO {name} AS t (scope, key, fingerprint, created_at, expires_at)
            SELECT :scope, :key, :fingerprint, :now, :expires FROM lock
            WHERE lock.locked AND NOT EXISTS (SELECT 1 FROM live)
            ON CONFLICT (scope, key) DO UPDATE SET
                fingerprint = EXCLUDED.fingerprint, status_code = NULL, response_body = NULL,
                created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at
            WHERE t.expires_at <= :now
            RETURNING 1
        )
        SELECT lock.locked, (SELECT count(*) FROM ins) > 0 AS inserted,
               live.fingerprint, live.status_code, live.response_body
        FROM lock LEFT JOIN live ON true
        """  # noqa: S608  # nosec B608 - the table name comes from our metadata, values are bound
    ).columns(
        column("locked", Boolean),
        column("inserted", Boolean),
        column("fingerprint", String),
        column("status_code", Integer),
        column("response_body", JSONB),
    )


async def purge_idempotency_records(session: AsyncSession, table: Table, now: datetime) -> int:
    """Delete records that expired before ``now``; returns how many (the caller commits)."""
    result = await session.execute(delete(table).where(table.c.expires_at <= now))
    return int(result.rowcount)  # type: ignore[attr-defined]
