"""Reads without a transaction: one statement on an autocommit connection, retried once on a
fresh connection when the pooled one was found dead.

One ``SELECT`` sees one snapshot by itself: wrapping it in ``BEGIN`` ... ``ROLLBACK`` costs two
round trips and buys nothing. A read that needs several tables at one instant joins them in
one statement. Hot reads pass statements built once, at import, with ``bindparam``\\ s:
SQLAlchemy compiles each shape once (its compiled cache) and asyncpg prepares it once per
connection, so a read costs one round trip and little Python.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import structlog
from sqlalchemy import Executable, Row
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.errors import is_lost_connection

__all__ = ["ReadOnlyDatabase"]

log = structlog.get_logger(__name__)

T = TypeVar("T")


class ReadOnlyDatabase:
    """Runs single-statement reads on ``engine``'s pool in autocommit mode.

    Args:
        engine: the service's engine (its pool is shared, not copied).

    A read whose pooled connection turns out dead (a database restart since its last use) is
    run again once on a fresh connection: SQLAlchemy has invalidated the pool by then. Any other
    failure is raised as it is (the HTTP adapter answers connection failures with 503).
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine.execution_options(isolation_level="AUTOCOMMIT")

    async def all(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Sequence[Row[Any]]:
        """Every row ``statement`` returns."""
        return await self.run(lambda conn: self._all(conn, statement, params))

    async def first(
        self, statement: Executable, params: Mapping[str, Any] | None = None
    ) -> Row[Any] | None:
        """The first row ``statement`` returns, or None."""
        rows = await self.all(statement, params)
        return rows[0] if rows else None

    async def run(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        """Await ``read`` on an autocommit connection (a repository's query method, say).

        Each statement ``read`` runs is a snapshot of its own: read what must agree in one
        statement.
        """
        try:
            return await self._run(read)
        except Exception as exc:
            if not is_lost_connection(exc):
                raise
            log.warning("db.read_reconnected", error=type(exc).__name__)
        return await self._run(read)

    async def _run(self, read: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self._engine.connect() as conn:
            return await read(conn)

    @staticmethod
    async def _all(
        conn: AsyncConnection, statement: Executable, params: Mapping[str, Any] | None
    ) -> Sequence[Row[Any]]:
        return (await conn.execute(statement, params)).all()
