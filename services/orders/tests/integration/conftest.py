"""Orders against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
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

from orders.application.facade import OrdersUseCases
from orders.bootstrap import build_use_cases
from shared.auth import StaticKeySource
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

SERVICE = Path(__file__).resolve().parents[2]
ASYNCAPI = SERVICE.parents[1] / "contracts" / "asyncapi"
ISS, AUD, KID = "https://identity.test", "ordo-test", "orders-test-key"


def alembic_config(connection: Connection) -> Config:
    """Alembic's config for orders, running on ``connection``."""
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


def resolve(node: Any, document: dict[str, Any], base: Path) -> Any:
    """Inline ``$ref``s, local and to sibling files, so jsonschema sees plain JSON Schema."""
    if isinstance(node, dict):
        if "$ref" in node:
            file, _, pointer = node["$ref"].partition("#")
            if file:
                base = (base.parent / file).resolve()
                document = yaml.safe_load(base.read_text())
            target: Any = document
            for part in pointer.strip("/").split("/"):
                target = target[part]
            return resolve(target, document, base)
        return {k: resolve(v, document, base) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, document, base) for v in node]
    return node


def payload_schemas(service: str) -> dict[str, Any]:
    """``{x-ce-type: payload JSON Schema}`` of every message of contracts/asyncapi/<service>."""
    path = ASYNCAPI / f"{service}.yaml"
    contract = yaml.safe_load(path.read_text())
    return {
        message["x-ce-type"]: resolve(message["payload"], contract, path)
        for message in contract["components"]["messages"].values()
    }


class Tokens:
    """Signs access tokens the way identity does, for one test key."""

    def __init__(self) -> None:
        self.private = Ed25519PrivateKey.generate()
        jwk: dict[str, Any] = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        jwk.update(kid=KID, alg="EdDSA", use="sig")
        self.keys = StaticKeySource({"keys": [jwk]})

    def headers(
        self, org_id: uuid.UUID, role: str = "member", *, user_id: uuid.UUID | None = None
    ) -> dict[str, str]:
        """Authorization (and a fresh Idempotency-Key) for a caller of ``org_id``."""
        now = int(time.time())
        claims = {
            "sub": str(user_id or uuid.uuid4()),
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
    name = f"ordo_orders_test_{uuid.uuid4().hex[:12]}"
    await create_database(ordo_endpoints.postgres_admin_dsn, name)
    yield database_settings(ordo_endpoints.postgres_admin_dsn, name)
    await drop_database(ordo_endpoints.postgres_admin_dsn, name)


@pytest.fixture(scope="session")
async def migrated(orders_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's orders database at orders' head revision."""
    await run_alembic(orders_database, lambda cfg: command.upgrade(cfg, "head"))
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
