"""Engine and session factories for PostgreSQL through asyncpg.

No ``pool_pre_ping``: it costs a round trip on every checkout to guard against a connection
that died in the pool, which happens once per database restart. Instead, a dead connection
fails its first statement; SQLAlchemy recognises the disconnect, invalidates the connection and
every other one the pool held before it, and the work runs again on a fresh connection when
that is safe (:func:`shared.errors.is_lost_connection`: a read, or a transaction that had not
reached COMMIT). Reads do that in :class:`shared.db.ReadOnlyDatabase`; use cases with
:data:`shared.resilience.RECONNECT`.

asyncpg prepares every statement once per connection: SQLAlchemy keeps the last
``prepared_statement_cache_size`` (100) prepared statements of each connection, and its
compiled cache keeps the SQL of each statement shape, so a repeated query costs one round trip.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from shared.errors import is_lost_connection
from shared.settings import DatabaseSettings

_SELECT_1 = text("SELECT 1")


def create_engine(
    settings: DatabaseSettings, *, application_name: str = "ordo", echo: bool = False
) -> AsyncEngine:
    """Build an async engine whose pool, connect timeout and statement timeout come from settings.

    A connection dropped by a database restart is not pinged at checkout: its first statement
    fails and invalidates the pool (see the module's docstring).
    """
    return _create_async_engine(
        settings.url(),
        echo=echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=False,
        pool_recycle=1800,
        connect_args={
            "timeout": settings.connect_timeout_s,
            "command_timeout": max(settings.statement_timeout_ms / 1000, 1.0) + 1.0,
            "server_settings": {
                "application_name": application_name,
                "statement_timeout": str(settings.statement_timeout_ms),
                "idle_in_transaction_session_timeout": "60000",
                "timezone": "UTC",
            },
        },
    )


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Return a session factory; sessions do not expire objects on commit (async-friendly)."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


async def check_postgres(engine: AsyncEngine) -> None:
    """Readiness probe: one round trip on a pooled connection; raises when the database is down.

    A pooled connection that died since its last use is replaced once: the database is up.
    """
    try:
        await _select_1(engine)
    except Exception as exc:
        if not is_lost_connection(exc):
            raise
        await _select_1(engine)


async def _select_1(engine: AsyncEngine) -> None:
    # Autocommit: no BEGIN/ROLLBACK round trips around the probe.
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(_SELECT_1)
