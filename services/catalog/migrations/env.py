"""Alembic environment of catalog: async engine from CatalogSettings, catalog's metadata.

Tests pass a ready connection in ``config.attributes["connection"]``; otherwise the URL comes
from the settings (environment and ORDO_SECRETS_DIR).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from catalog.adapters.persistence.tables import metadata as catalog_metadata
from catalog.bootstrap import CatalogSettings
from shared.inbox import inbox_metadata

config = context.config
# The inbox tables are the chassis' (shared.inbox), created by upgrade_inbox in the migrations.
metadata = [catalog_metadata, inbox_metadata]


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    settings = CatalogSettings()
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
        url=CatalogSettings().database.url().render_as_string(hide_password=True),
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
