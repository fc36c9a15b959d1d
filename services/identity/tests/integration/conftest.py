"""Identity against the real PostgreSQL: one migrated database per xdist worker."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from identity.bootstrap import IdentitySettings, PasswordSettings, build_app
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.migrations import Alembic
from shared.testing.plugin import temporary_database

SERVICE = Path(__file__).resolve().parents[2]
ALEMBIC = Alembic(SERVICE)


@pytest.fixture(scope="session")
async def identity_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of identity's own for this xdist worker (as in production: the drift test
    must see identity's tables and nothing the chassis tests create in the shared one)."""
    async with temporary_database(ordo_endpoints, "ordo_identity_test") as database:
        yield database


@pytest.fixture(scope="session")
async def migrated(identity_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's identity database at identity's head revision."""
    await ALEMBIC.upgrade_head(identity_database)
    return identity_database


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
