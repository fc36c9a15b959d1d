"""Migrations: every step upgrades and downgrades (stairway) and the schema equals the models."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import create_async_engine

from notifications.adapters.persistence.tables import metadata
from shared.inbox import inbox_metadata
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

from .conftest import alembic_config, run_alembic

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of this test's own: going down to base must not empty the worker's."""
    name = f"ordo_stairway_{uuid.uuid4().hex[:12]}"
    await create_database(ordo_endpoints.postgres_admin_dsn, name)
    yield database_settings(ordo_endpoints.postgres_admin_dsn, name)
    await drop_database(ordo_endpoints.postgres_admin_dsn, name)


async def test_stairway_every_revision_goes_down_and_up(scratch: DatabaseSettings) -> None:
    engine = create_async_engine(scratch.url())
    async with engine.connect() as conn:
        script = await conn.run_sync(lambda c: ScriptDirectory.from_config(alembic_config(c)))
    await engine.dispose()
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, "no revisions found"
    for revision in revisions:
        down = revision.down_revision or "base"
        await run_alembic(scratch, lambda cfg, r=revision.revision: command.upgrade(cfg, r))
        await run_alembic(scratch, lambda cfg, d=down: command.downgrade(cfg, d))
        await run_alembic(scratch, lambda cfg, r=revision.revision: command.upgrade(cfg, r))
    await run_alembic(scratch, lambda cfg: command.upgrade(cfg, "head"))


def _models() -> MetaData:
    """Notifications' tables and the chassis' inbox tables, as one metadata."""
    merged = MetaData()
    for source in (metadata, inbox_metadata):
        for table in source.tables.values():
            table.to_metadata(merged)
    return merged


async def test_the_schema_has_no_drift_from_the_models(migrated: DatabaseSettings) -> None:
    models = _models()
    engine = create_async_engine(migrated.url())
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), models
                )
            )
    finally:
        await engine.dispose()
    assert diff == []
