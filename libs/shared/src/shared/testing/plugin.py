"""pytest plugin: real, isolated PostgreSQL, Kafka and Redis for Ordo's tests.

Fixtures (all async ones run on the session event loop):

- ``ordo_endpoints``: where the servers are (see :mod:`shared.testing`). Containers, when
  used, are started once per run by :func:`pytest_configure`.
- ``ordo_database``: a fresh database for this xdist worker, as :class:`DatabaseSettings`;
  dropped at the end of the session.
- ``ordo_scratch_database``: a fresh, empty database for this test only (a migration stairway
  goes down to base, which must not empty the worker's).
- :func:`temporary_database` (not a fixture): ``async with temporary_database(endpoints,
  "ordo_orders_test") as database`` for a database of a service's own (its Alembic history
  would collide with another service's in ``ordo_database``) or of one test's own.
- ``new_topic``: ``await new_topic(partitions=3)`` creates a uniquely named topic for this test
  and deletes it afterwards.
- ``kafka_group``: a consumer group id unique to this test.
- ``redis_client`` and ``redis_prefix``: a client and a key prefix unique to this test; keys under
  the prefix are deleted afterwards.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from redis.asyncio import Redis

from shared.messaging import create_topics, delete_topics
from shared.settings import DatabaseSettings
from shared.testing._endpoints import (
    Endpoints,
    export_endpoints,
    resolve_endpoints,
    start_containers,
)

NewTopic = Callable[..., Awaitable[str]]


def _slug(text: str, limit: int = 40) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit] or "t"


# The containers this run started (controller only), stopped when the run ends.
_CONTAINERS_KEY = pytest.StashKey[Endpoints]()


def pytest_configure(config: pytest.Config) -> None:
    """Start the servers' containers once per run, when ``ORDO_TEST_SERVERS`` asks for them.

    This runs in the xdist controller before it spawns the workers, which inherit the URLs
    through the environment; so ``-n 2`` shares one set of containers, not one per worker.
    """
    if hasattr(config, "workerinput"):
        return
    began = time.monotonic()
    started = start_containers()
    if started is not None:
        started.startup_s = time.monotonic() - began
        config.stash[_CONTAINERS_KEY] = started
        export_endpoints(started)


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the containers :func:`pytest_configure` started."""
    started = config.stash.get(_CONTAINERS_KEY, None)
    if started is not None:
        started.stop()


def _worker(request: pytest.FixtureRequest) -> str:
    return str(getattr(request.config, "workerinput", {}).get("workerid", "main"))


@pytest.fixture(scope="session")
def ordo_endpoints(request: pytest.FixtureRequest) -> Iterator[Endpoints]:
    """Resolve the test servers once per worker; stop any containers started for them."""
    endpoints = resolve_endpoints(Path(str(request.config.rootpath)))
    yield endpoints
    endpoints.stop()


def database_settings(dsn: str, name: str) -> DatabaseSettings:
    """Build :class:`DatabaseSettings` for database ``name`` on the server of ``dsn``."""
    parts = urlsplit(dsn)
    return DatabaseSettings(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 5432,
        name=name,
        user=parts.username or "postgres",
        password=parts.password or "",
        pool_size=5,
        max_overflow=5,
    )


async def create_database(admin_dsn: str, name: str) -> None:
    """Create database ``name`` (dropping a leftover of the same name first)."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name`` even if connections are still open."""
    conn = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@asynccontextmanager
async def temporary_database(
    endpoints: Endpoints, prefix: str, *, suffix_chars: int = 12
) -> AsyncIterator[DatabaseSettings]:
    """A fresh, empty database named ``<prefix>_<random hex>``, dropped when the block ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:suffix_chars]}"
    await create_database(endpoints.postgres_admin_dsn, name)
    try:
        yield database_settings(endpoints.postgres_admin_dsn, name)
    finally:
        await drop_database(endpoints.postgres_admin_dsn, name)


@pytest.fixture(scope="session")
async def ordo_database(
    ordo_endpoints: Endpoints, request: pytest.FixtureRequest
) -> AsyncIterator[DatabaseSettings]:
    """A fresh, empty database for this xdist worker (one per worker, not per test)."""
    prefix = f"ordo_test_{_slug(_worker(request), 10).replace('-', '_')}"
    async with temporary_database(ordo_endpoints, prefix, suffix_chars=8) as database:
        yield database


@pytest.fixture
async def ordo_scratch_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A fresh, empty database for this test only, dropped when it ends."""
    async with temporary_database(ordo_endpoints, "ordo_scratch") as database:
        yield database


@pytest.fixture
async def new_topic(
    ordo_endpoints: Endpoints, request: pytest.FixtureRequest
) -> AsyncIterator[NewTopic]:
    """Factory of topics unique to this test, deleted when the test ends."""
    created: list[str] = []
    base = f"test.{_slug(request.node.name, 30)}"

    async def make(partitions: int = 3, suffix: str = "") -> str:
        name = f"{base}.{uuid.uuid4().hex[:10]}{suffix}"
        await create_topics(ordo_endpoints.kafka_bootstrap, [name], partitions=partitions)
        created.append(name)
        return name

    yield make
    if created:
        await delete_topics(ordo_endpoints.kafka_bootstrap, created)


@pytest.fixture
def kafka_group(request: pytest.FixtureRequest) -> str:
    """A consumer group id unique to this test."""
    return f"test-{_slug(request.node.name, 30)}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def redis_prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix unique to this test."""
    return f"test:{_slug(request.node.name, 30)}:{uuid.uuid4().hex[:10]}:"


@pytest.fixture
async def redis_client(ordo_endpoints: Endpoints, redis_prefix: str) -> AsyncIterator[Redis]:
    """A Redis client; every key under ``redis_prefix`` is deleted after the test."""
    client = Redis.from_url(ordo_endpoints.redis_url, socket_timeout=5)
    try:
        yield client
        keys = [key async for key in client.scan_iter(match=f"{redis_prefix}*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


def pytest_report_header(config: pytest.Config) -> str | None:
    """Say which servers the tests will use (only on the controller, once)."""
    if hasattr(config, "workerinput"):
        return None
    started = config.stash.get(_CONTAINERS_KEY, None)
    if started is not None:
        where = ", ".join(f"{name}={label}" for name, label in sorted(started.source.items()))
        return f"ordo servers: {where} (ORDO_TEST_SERVERS), started in {started.startup_s:.1f} s"
    return (
        "ordo servers: environment URLs > testcontainers (ORDO_TEST_SERVERS=containers, or auto"
        " with an engine answering) > local bootstrap (.data/)"
    )
