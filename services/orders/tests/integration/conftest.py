"""Orders against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orders.application.facade import OrdersUseCases
from orders.bootstrap import build_use_cases
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.migrations import Alembic
from shared.testing.plugin import temporary_database
from shared.testing.tokens import TokenIssuer

SERVICE = Path(__file__).resolve().parents[2]
ALEMBIC = Alembic(SERVICE)
ISS, AUD, KID = "https://identity.test", "ordo-test", "orders-test-key"


def principal_of(org_id: uuid.UUID, role: Role = Role.MEMBER) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


async def outbox_rows(engine: AsyncEngine, key: uuid.UUID) -> list[tuple[str, dict[str, Any]]]:
    """The (ce_type, payload) of the outbox rows keyed by ``key``, in commit order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text("SELECT headers->>'ce_type', payload FROM outbox WHERE key = :k ORDER BY seq"),
            {"k": str(key)},
        )
        return [(row[0], row[1]) for row in rows]


async def outbox_types(engine: AsyncEngine, key: uuid.UUID) -> list[str]:
    """The ce_types of the outbox rows keyed by ``key``, in commit order."""
    return [kind for kind, _ in await outbox_rows(engine, key)]


class Tokens(TokenIssuer):
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        super().__init__(issuer=ISS, audience=AUD, kid=KID)

    def headers(
        self, org_id: uuid.UUID, role: str = "member", *, user_id: uuid.UUID | None = None
    ) -> dict[str, str]:
        """Authorization (and a fresh Idempotency-Key) for a caller of ``org_id``."""
        return self.bearer(org_id, role, user_id=user_id) | {"Idempotency-Key": str(uuid.uuid4())}


@pytest.fixture(scope="session")
def tokens() -> Tokens:
    """A signing key of this session and its verifier's key source."""
    return Tokens()


@pytest.fixture(scope="session")
async def orders_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of orders' own for this xdist worker.

    Not the shared ``ordo_database``: every service's Alembic history has its own ``0001`` in
    ``alembic_version``, so two services migrated into one database would collide.
    """
    async with temporary_database(ordo_endpoints, "ordo_orders_test") as database:
        yield database


@pytest.fixture(scope="session")
async def migrated(orders_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's orders database at orders' head revision."""
    await ALEMBIC.upgrade_head(orders_database)
    return orders_database


@pytest.fixture(scope="session")
async def engine(migrated: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database, with room for the concurrency tests."""
    engine = create_engine(
        migrated.model_copy(update={"pool_size": 25, "max_overflow": 20}),
        application_name="orders-tests",
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated database."""
    return create_session_factory(engine)


@pytest.fixture(scope="session")
def orders(sessions: async_sessionmaker[AsyncSession]) -> OrdersUseCases:
    """The use cases on PostgreSQL and the outbox (no doorbell: no relay runs here)."""
    return build_use_cases(sessions)


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    """The local broker."""
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)
