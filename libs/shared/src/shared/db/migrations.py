"""Alembic's environment for every service: one function an ``env.py`` calls.

Tests pass a ready connection in ``config.attributes["connection"]``; otherwise the URL comes from
the service's settings (environment and ``ORDO_SECRETS_DIR``). ``alembic upgrade head --sql``
renders SQL without a database, password hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import context
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared import runtime
from shared.settings import ServiceSettings

__all__ = ["run_migrations"]


def run_migrations(settings: ServiceSettings, metadata: MetaData | Sequence[MetaData]) -> None:
    """Run the current Alembic command for the database in ``settings`` against ``metadata``.

    ``metadata`` lists every table the service's revisions create, the chassis' outbox and inbox
    tables included, so autogenerate and drift checks compare the whole schema.
    """
    target = metadata if isinstance(metadata, MetaData) else list(metadata)

    def run(connection: Connection) -> None:
        context.configure(connection=connection, target_metadata=target, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()

    async def run_online() -> None:
        engine = create_async_engine(settings.database.url())
        try:
            async with engine.connect() as connection:
                await connection.run_sync(run)
                await connection.commit()
        finally:
            await engine.dispose()

    if context.is_offline_mode():
        context.configure(
            url=settings.database.url().render_as_string(hide_password=True),
            target_metadata=target,
            literal_binds=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    elif (connection := context.config.attributes.get("connection")) is not None:
        run(connection)
    else:
        runtime.run(run_online())
