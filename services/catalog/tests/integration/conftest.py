"""Catalog against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.application.facade import CatalogUseCases
from catalog.bootstrap import AuthSettings, CacheSettings, CatalogSettings, build_use_cases
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.inbox.testing import publish_records
from shared.settings import DatabaseSettings, KafkaSettings, RedisSettings
from shared.testing import Endpoints
from shared.testing.migrations import Alembic
from shared.testing.plugin import temporary_database
from shared.testing.tokens import TokenIssuer

SERVICE = Path(__file__).resolve().parents[2]
ALEMBIC = Alembic(SERVICE)
ISS, AUD, KID = "https://identity.test", "ordo-test", "test-key"


class Tokens(TokenIssuer):
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        super().__init__(issuer=ISS, audience=AUD, kid=KID)

    def headers(self, org_id: uuid.UUID, role: str = "member") -> dict[str, str]:
        """Authorization (and a fresh Idempotency-Key) for a caller of ``org_id``."""
        return self.bearer(org_id, role) | {"Idempotency-Key": str(uuid.uuid4())}


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
    async with temporary_database(ordo_endpoints, "ordo_catalog_test") as database:
        yield database


@pytest.fixture(scope="session")
async def migrated(catalog_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's catalog database at catalog's head revision."""
    await ALEMBIC.upgrade_head(catalog_database)
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
