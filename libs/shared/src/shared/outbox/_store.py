"""The relay's SQL, on raw asyncpg connections (prepared statements, no ORM on the hot path)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from shared.outbox._pg import PgConnection
from shared.outbox._schema import OutboxNames

__all__ = ["OutboxRow", "OutboxStats", "OutboxStore", "uuid7_floor"]

_MAX_ERROR_LENGTH = 2000


class OutboxRow(NamedTuple):
    """One unpublished row as the relay reads it, ready to send.

    A named tuple, not a dataclass: the relay builds thousands per second and tuples are the
    cheapest Python object to build. ``headers`` are already Kafka's ``(name, bytes)`` pairs.
    """

    id: uuid.UUID
    seq: int
    lane: int
    topic: str
    key: str
    payload: bytes
    headers: list[tuple[str, bytes]]
    attempts: int


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """The backlog: unpublished rows and the age of the oldest (0 when empty)."""

    backlog: int
    oldest_age_s: float


def uuid7_floor(moment: datetime) -> uuid.UUID:
    """Return the smallest UUID v7 of ``moment``'s millisecond: ids below it are older."""
    millis = int(moment.timestamp() * 1000)
    return uuid.UUID(int=(millis << 80) | (7 << 76))


class OutboxStore:
    """Every statement the relay runs against one outbox table."""

    def __init__(self, names: OutboxNames) -> None:
        """Render the statements for the table ``names``."""
        # S608/B608 below: the only interpolated text is the table name, quoted by OutboxNames;
        # every value is a bound parameter.
        t = names.qualified
        self.names = names
        # Not "seq > last seen": a transaction that took a lower seq but committed later would
        # be skipped forever. Every unpublished row of the owned lanes is a candidate.
        self._fetch = (
            # PostgreSQL hands the payload over as UTF-8 bytes, ready for Kafka.
            f"SELECT id, seq, lane, topic, key, convert_to(payload::text, 'UTF8') AS payload,"  # noqa: S608  # nosec B608
            f" headers::text AS headers, attempts FROM {t}"
            f" WHERE published_at IS NULL AND lane = ANY($1::int[]) ORDER BY seq LIMIT $2"
        )
        # ``published_at IS NULL`` keeps a second replica's late mark from moving the time.
        self._mark = (
            f"UPDATE {t} SET published_at = now(), attempts = attempts + 1"  # noqa: S608  # nosec B608
            f" WHERE id = ANY($1::uuid[]) AND published_at IS NULL"
        )
        self._fail = (
            f"UPDATE {t} SET attempts = attempts + 1, last_error = $2"  # noqa: S608  # nosec B608
            f" WHERE id = $1 AND published_at IS NULL"
        )
        self._stats = (
            f"SELECT (SELECT count(*) FROM {t} WHERE published_at IS NULL) AS backlog,"  # noqa: S608  # nosec B608
            f" (SELECT extract(epoch FROM now() - created_at) FROM {t}"
            f"  WHERE published_at IS NULL ORDER BY seq LIMIT 1) AS oldest"
        )
        # The primary key is a UUID v7, so "created before the cutoff" is an index range;
        # a row is published after it is created, so the range holds every deletable row.
        self._cleanup = (
            f"DELETE FROM {t} WHERE id IN (SELECT id FROM {t}"  # noqa: S608  # nosec B608
            f" WHERE id < $1 AND published_at < $2 ORDER BY id LIMIT $3)"
        )
        self._cleanup_lock = names.lock_namespace("cleanup")

    async def fetch(
        self,
        conn: PgConnection,
        lanes: Sequence[int],
        limit: int,
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> list[OutboxRow]:
        """Return up to ``limit`` unpublished rows of ``lanes``, oldest ``seq`` first."""
        records = await conn.fetch(self._fetch, list(lanes), limit, timeout=timeout)
        loads = json.loads
        return [
            OutboxRow(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                [(k, v.encode()) for k, v in loads(r[6]).items()],
                r[7],
            )
            for r in records
        ]

    async def mark_published(
        self,
        conn: PgConnection,
        ids: Sequence[uuid.UUID],
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Stamp ``published_at`` on rows the broker acknowledged."""
        if ids:
            await conn.execute(self._mark, list(ids), timeout=timeout)

    async def record_failure(
        self,
        conn: PgConnection,
        row_id: uuid.UUID,
        error: str,
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> None:
        """Count a failed attempt on the row that stopped its lane, with the error's summary."""
        await conn.execute(self._fail, row_id, error[:_MAX_ERROR_LENGTH], timeout=timeout)

    async def stats(self, conn: PgConnection, *, timeout: float) -> OutboxStats:  # noqa: ASYNC109
        """Count the backlog and measure the age of its oldest row (database clock)."""
        record = await conn.fetchrow(self._stats, timeout=timeout)
        if record is None:  # a SELECT of two scalars always returns one row
            raise RuntimeError("the outbox statistics query returned no row")
        oldest = record["oldest"]
        return OutboxStats(
            backlog=int(record["backlog"]), oldest_age_s=max(float(oldest or 0), 0.0)
        )

    async def delete_published(
        self,
        conn: PgConnection,
        cutoff: datetime,
        batch: int,
        *,
        timeout: float,  # noqa: ASYNC109
    ) -> int | None:
        """Delete up to ``batch`` rows published before ``cutoff``; None if another replica is.

        A transaction-scoped advisory lock lets one replica clean at a time: two would only
        fight over the same rows.
        """
        async with conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock($1::int)", self._cleanup_lock, timeout=timeout
            ):
                return None
            status = await conn.execute(
                self._cleanup, uuid7_floor(cutoff), cutoff, batch, timeout=timeout
            )
        return int(status.split()[-1])
