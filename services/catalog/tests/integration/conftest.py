"""Catalog against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
from alembic import command
from alembic.config import Config
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from catalog.application.facade import CatalogUseCases
from catalog.bootstrap import AuthSettings, CacheSettings, CatalogSettings, build_use_cases
from shared.auth import StaticKeySource
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.inbox.testing import publish_records
from shared.settings import DatabaseSettings, KafkaSettings, RedisSettings
from shared.testing import Endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

SERVICE = Path(__file__).resolve().parents[2]
ISS, AUD, KID = "https://identity.test", "ordo-test", "test-key"


class Tokens:
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=KID, alg="EdDSA", use="sig")
        self.keys = StaticKeySource({"keys": [jwk]})

    def headers(self, org_id: uuid.UUID, role: str = "member") -> dict[str, str]:
        now = int(time.time())
        claims = {
            "sub": str(uuid.uuid4()),
            "org_id": str(org_id),
            "roles": [role],
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "iss": ISS,
            "aud": AUD,
            "jti": str(uuid.uuid4()),
        }
        token = jwt.encode(
            claims, self.private, algorithm="EdDSA", headers={"kid": KID, "typ": "at+jwt"}
        )
        return {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}


def redis_settings(endpoints: Endpoints) -> RedisSettings:
    """The test Redis as catalog's settings."""
    parts = urlsplit(endpoints.redis_url)
    return RedisSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        password=parts.password or "",
        socket_timeout_s=5,
    )


def app_settings(
    database: DatabaseSettings, endpoints: Endpoints, *, cache: CacheSettings, **more: Any
) -> CatalogSettings:
    """Catalog's settings on the test servers (Redis, Kafka), tokens of :class:`Tokens`."""
    return CatalogSettings(
        environment="test",
        database=database,
        auth=AuthSettings(issuer=ISS, audience=AUD),
        redis=redis_settings(endpoints),
        kafka=KafkaSettings(bootstrap_servers=endpoints.kafka_bootstrap),
        cache=cache,
        **more,
    )


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


class OutboxRelayStandIn:
    """Publishes an org's outbox rows to a test topic, as the relay would to catalog.events.

    The real relay publishes to each row's own topic (``catalog.events``), which parallel
    tests and the running stack share; this reads the same rows (payload and CloudEvents
    headers byte for byte) and publishes them to a topic of the test's own.
    """

    def __init__(self, engine: AsyncEngine, kafka: KafkaSettings, topic: str) -> None:
        self.engine, self.kafka, self.topic = engine, kafka, topic
        self.last_seq = 0

    async def publish(self, org_id: uuid.UUID) -> list[str]:
        """Publish the org's rows written since the last call; return their ce_types."""
        async with self.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text(
                        "SELECT seq, key, payload, headers FROM outbox "
                        "WHERE headers->>'ce_orgid' = :org AND seq > :seq ORDER BY seq"
                    ),
                    {"org": str(org_id), "seq": self.last_seq},
                )
            ).all()
        records = [
            (key.encode(), payload, [(k, str(v).encode()) for k, v in headers.items()])
            for _seq, key, payload, headers in rows
        ]
        if records:
            await publish_records(self.kafka, self.topic, records)
            self.last_seq = rows[-1][0]
        return [headers["ce_type"] for _seq, _key, _payload, headers in rows]
