"""Catalog against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from catalog.application.facade import CatalogUseCases
from catalog.bootstrap import build_use_cases
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

SERVICE = Path(__file__).resolve().parents[2]


def alembic_config(connection: Connection) -> Config:
    """Alembic's config for catalog, running on ``connection``."""
    config = Config(str(SERVICE / "alembic.ini"))
    config.set_main_option("script_location", str(SERVICE / "migrations"))
    config.attributes["connection"] = connection
    return config


async def run_alembic(database: DatabaseSettings, step: Callable[[Config], Any]) -> None:
    """Run an Alembic command on ``database`` through a connection of ours."""
    engine = create_async_engine(database.url())
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: step(alembic_config(sync)))
    finally:
        await engine.dispose()


def principal_of(org_id: uuid.UUID, role: Role = Role.MEMBER) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


async def outbox_types(engine: AsyncEngine, key: uuid.UUID) -> list[str]:
    """The ce_types of the outbox rows keyed by ``key``, in commit order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT headers->>'ce_type' FROM outbox WHERE key = :k ORDER BY seq"),
            {"k": str(key)},
        )
        return [row[0] for row in rows]


@pytest.fixture(scope="session")
async def catalog_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of catalog's own for this xdist worker.

    Not the shared ``ordo_database``: every service's Alembic history has its own ``0001`` in
    ``alembic_version``, so two services migrated into one database would see each other's
    revision as their own head (in production each service owns its database anyway).
    """
    name = f"ordo_catalog_test_{uuid.uuid4().hex[:12]}"
    await create_database(ordo_endpoints.postgres_admin_dsn, name)
    yield database_settings(ordo_endpoints.postgres_admin_dsn, name)
    await drop_database(ordo_endpoints.postgres_admin_dsn, name)


@pytest.fixture(scope="session")
async def migrated(catalog_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's catalog database at catalog's head revision."""
    await run_alembic(catalog_database, lambda cfg: command.upgrade(cfg, "head"))
    return catalog_database


@pytest.fixture(scope="session")
async def engine(migrated: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database, with room for the concurrency test."""
    engine = create_engine(
        migrated.model_copy(update={"pool_size": 20, "max_overflow": 40}),
        application_name="catalog-tests",
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated database."""
    return create_session_factory(engine)


@pytest.fixture(scope="session")
def catalog(sessions: async_sessionmaker[AsyncSession]) -> CatalogUseCases:
    """The use cases on PostgreSQL and the outbox (no doorbell: no relay runs here)."""
    return build_use_cases(sessions)
