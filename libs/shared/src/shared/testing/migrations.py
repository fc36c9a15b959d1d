"""Migration tests for every service: the stairway and the drift check, written once.

::

    ALEMBIC = Alembic(Path(__file__).resolve().parents[2])   # the service's folder

    async def test_stairway(ordo_scratch_database: DatabaseSettings) -> None:
        await assert_stairway(ALEMBIC, ordo_scratch_database)

    async def test_no_drift(migrated: DatabaseSettings) -> None:
        await assert_no_drift(migrated, metadata, inbox_metadata)

:class:`Alembic` runs the service's own ``alembic.ini`` and ``migrations/`` on a connection of
ours (``env.py`` takes it from ``config.attributes["connection"]``, see
:mod:`shared.db.migrations`), so tests never read the service's settings. The stairway needs a
database of its own (the plugin's ``ordo_scratch_database``): going down to base empties it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.settings import DatabaseSettings

__all__ = ["Alembic", "assert_no_drift", "assert_stairway", "merged_metadata"]


class Alembic:
    """A service's Alembic environment (``<service_dir>/alembic.ini`` and ``migrations/``)."""

    def __init__(self, service_dir: Path) -> None:
        """Use the environment of the service whose folder is ``service_dir``."""
        self.service_dir = service_dir

    def config(self, connection: Connection | None = None) -> Config:
        """Alembic's config for this service, running on ``connection`` when given."""
        config = Config(str(self.service_dir / "alembic.ini"))
        config.set_main_option("script_location", str(self.service_dir / "migrations"))
        if connection is not None:
            config.attributes["connection"] = connection
        return config

    def revisions(self) -> list[Script]:
        """Every revision, oldest first."""
        return list(reversed(list(ScriptDirectory.from_config(self.config()).walk_revisions())))

    async def run(self, database: DatabaseSettings, step: Callable[[Config], Any]) -> None:
        """Run an Alembic command (``step(config)``) on ``database`` in one transaction."""
        engine = create_async_engine(database.url())
        try:
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: step(self.config(sync)))
        finally:
            await engine.dispose()

    async def upgrade(self, database: DatabaseSettings, revision: str) -> None:
        """Upgrade ``database`` to ``revision``."""
        await self.run(database, lambda cfg: command.upgrade(cfg, revision))

    async def downgrade(self, database: DatabaseSettings, revision: str) -> None:
        """Downgrade ``database`` to ``revision`` (``"base"``: nothing left)."""
        await self.run(database, lambda cfg: command.downgrade(cfg, revision))

    async def upgrade_head(self, database: DatabaseSettings) -> None:
        """Upgrade ``database`` to the head revision."""
        await self.upgrade(database, "head")


async def assert_stairway(alembic: Alembic, database: DatabaseSettings) -> None:
    """Every revision goes up, down to its parent and up again; then the whole way to head.

    ``database`` must be a scratch database: the first step down empties it.
    """
    revisions = alembic.revisions()
    if not revisions:
        raise AssertionError(f"no revisions found in {alembic.service_dir / 'migrations'}")
    for revision in revisions:
        await alembic.upgrade(database, revision.revision)
        await alembic.downgrade(database, _parent(revision))
        await alembic.upgrade(database, revision.revision)
    await alembic.upgrade_head(database)


def _parent(revision: Script) -> str:
    down = revision.down_revision
    if down is None:
        return "base"
    if isinstance(down, str):
        return down
    raise AssertionError(f"revision {revision.revision} merges branches; step it by hand")


def merged_metadata(*metadatas: MetaData) -> MetaData:
    """One metadata holding the tables of all of ``metadatas`` (a service's and the chassis')."""
    merged = MetaData()
    for source in metadatas:
        for table in source.tables.values():
            table.to_metadata(merged)
    return merged


async def assert_no_drift(database: DatabaseSettings, *metadatas: MetaData) -> None:
    """The migrated schema of ``database`` equals the tables of ``metadatas`` (types included)."""
    models = merged_metadata(*metadatas)
    engine = create_async_engine(database.url())
    try:
        async with engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), models
                )
            )
    finally:
        await engine.dispose()
    if diff:
        raise AssertionError(f"the schema differs from the models: {diff}")
