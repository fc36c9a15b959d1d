"""What each service's database says: its outbox backlog and the dead letters it replayed."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from shared.settings import DatabaseSettings

__all__ = ["Backlog", "outbox_backlog", "replayed_counts"]

_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Backlog:
    """A service's outbox: rows committed but not yet published, and the oldest one's age."""

    service: str
    unpublished: int | None
    oldest_age_s: float | None
    error: str | None = None


async def _connect(database: DatabaseSettings) -> asyncpg.Connection:
    return await asyncpg.connect(dsn=database.dsn(), timeout=_TIMEOUT_S)


async def outbox_backlog(service: str, database: DatabaseSettings) -> Backlog:
    """Read ``service``'s outbox; a database that does not answer is reported, not raised."""
    try:
        conn = await _connect(database)
    except (OSError, asyncpg.PostgresError) as exc:
        return Backlog(service, None, None, type(exc).__name__)
    try:
        if await conn.fetchval("SELECT to_regclass('outbox') IS NULL"):
            return Backlog(service, 0, 0.0, "no outbox table")
        row = await conn.fetchrow(
            "SELECT count(*) AS n, EXTRACT(EPOCH FROM now() - min(created_at)) AS age"
            " FROM outbox WHERE published_at IS NULL"
        )
        if row is None:  # never: an aggregate returns one row
            return Backlog(service, None, None, "no answer")
        return Backlog(service, int(row["n"]), float(row["age"] or 0.0))
    finally:
        await conn.close()


async def replayed_counts(database: DatabaseSettings) -> dict[str, int]:
    """Dead letters this database's service replayed, per ``.dlq`` topic (none if unreachable)."""
    try:
        conn = await _connect(database)
    except (OSError, asyncpg.PostgresError):
        return {}
    try:
        if await conn.fetchval("SELECT to_regclass('inbox_replayed_dead_letters') IS NULL"):
            return {}
        rows = await conn.fetch(
            "SELECT dlq_topic, count(*) AS n FROM inbox_replayed_dead_letters GROUP BY dlq_topic"
        )
        return {r["dlq_topic"]: int(r["n"]) for r in rows}
    finally:
        await conn.close()
