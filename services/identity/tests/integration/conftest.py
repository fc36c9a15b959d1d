"""Identity against the real PostgreSQL: one migrated database per xdist worker."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.config import Config
from asgi_lifespan import LifespanManager
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from identity.bootstrap import IdentitySettings, PasswordSettings, build_app
from shared.settings import DatabaseSettings

SERVICE = Path(__file__).resolve().parents[2]


def alembic_config(connection: Connection) -> Config:
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


@pytest.fixture(scope="session")
async def migrated(ordo_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's database at identity's head revision."""
    await run_alembic(ordo_database, lambda cfg: command.upgrade(cfg, "head"))
    return ordo_database


def kek_for(database: DatabaseSettings) -> str:
    """One key-encryption key per database, as in production: every identity app built on
    the worker's database (identity's and the gateway's tests) opens the same sealed keys."""
    return base64.b64encode(hashlib.sha256(database.name.encode()).digest()).decode()


@pytest.fixture(scope="session")
def identity_settings(migrated: DatabaseSettings) -> IdentitySettings:
    """Settings for the test database; argon2 kept cheap (the cost is not under test here)."""
    return IdentitySettings(
        environment="test",
        database=migrated,
        signing_kek=kek_for(migrated),
        passwords=PasswordSettings(time_cost=1, memory_cost_kib=1024, parallelism=1),
    )


@pytest.fixture(scope="session")
async def identity(identity_settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of identity's app (lifespan run: a signing key exists)."""
    app = build_app(identity_settings)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://identity") as client:
            yield client
