"""Catalog's idempotency records: the chassis' adapter plus the purge of expired ones."""

from __future__ import annotations

from datetime import datetime

from shared.db.idempotency import SqlaIdempotencyRecords, purge_idempotency_records

__all__ = ["SqlaIdempotencyStore"]


class SqlaIdempotencyStore(SqlaIdempotencyRecords):
    """Implements catalog's ``IdempotencyStore`` port in the unit of work's transaction."""

    async def purge_expired(self, *, now: datetime) -> int:
        """Delete the records that expired before ``now``."""
        return await purge_idempotency_records(self._session, self._table, now)
