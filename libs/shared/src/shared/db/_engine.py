"""Engine and session factories for PostgreSQL through asyncpg."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.ext.asyncio import create_async_engine as _create_async_engine

from shared.settings import DatabaseSettings


def create_engine(
    settings: DatabaseSettings, *, application_name: str = "ordo", echo: bool = False
) -> AsyncEngine:
    """Build an async engine whose pool, connect timeout and statement timeout come from settings.

    ``pool_pre_ping`` makes a connection dropped by a database restart fail over to a fresh one
    instead of surfacing as an error in the next request.
    """
    return _create_async_engine(
        settings.url(),
        echo=echo,
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_timeout=settings.pool_timeout_s,
        pool_pre_ping=True,
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
    """Readiness probe: one round trip on a pooled connection; raises when the database is down."""
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
