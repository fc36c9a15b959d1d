"""Alembic environment of identity: async engine from IdentitySettings, identity's metadata.

Tests pass a ready connection in ``config.attributes["connection"]``; otherwise the URL comes
from the settings (environment and ORDO_SECRETS_DIR).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from identity.adapters.persistence.tables import metadata
from identity.bootstrap import IdentitySettings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    settings = IdentitySettings()
    engine = create_async_engine(settings.database.url())
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    """Render SQL without a database (``alembic upgrade head --sql``)."""
    context.configure(
        url=IdentitySettings().database.url().render_as_string(hide_password=True),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif (connection := config.attributes.get("connection")) is not None:
    _run(connection)
else:
    asyncio.run(_run_online())
