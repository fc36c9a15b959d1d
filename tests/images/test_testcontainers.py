"""The test plugin's server selection (ORDO_TEST_SERVERS) and, under `make test-containers`,
proof that the servers really are the containers it started."""

from __future__ import annotations

import os
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from shared.settings import LOCAL_KAFKA_PORT, LOCAL_POSTGRES_PORT, LOCAL_REDIS_PORT
from shared.testing import Endpoints
from shared.testing._endpoints import resolve_endpoints, servers_mode, start_containers

IN_CONTAINERS = os.environ.get("ORDO_TEST_SERVERS") == "containers"
URLS = ("ORDO_TEST_POSTGRES_URL", "ORDO_TEST_KAFKA_BOOTSTRAP", "ORDO_TEST_REDIS_URL")


@pytest.fixture
def no_urls(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for variable in (*URLS, "ORDO_TEST_SERVERS_SOURCE", "ORDO_TEST_SERVERS"):
        monkeypatch.delenv(variable, raising=False)
    return monkeypatch


def test_local_mode_never_starts_containers(no_urls: pytest.MonkeyPatch) -> None:
    no_urls.setenv("ORDO_TEST_SERVERS", "local")
    no_urls.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert start_containers() is None


def test_auto_mode_falls_back_to_local_servers_without_an_engine(
    no_urls: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_urls.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    assert servers_mode() == "auto"
    assert start_containers() is None
    data = tmp_path / "data"
    (data / "secrets").mkdir(parents=True)
    (data / "secrets" / "postgres_superuser").write_text("pg")
    (data / "secrets" / "redis_password").write_text("rd")
    no_urls.setenv("ORDO_DATA", str(data))
    found = resolve_endpoints(data)
    assert found.source == {"postgres": "local", "kafka": "local", "redis": "local"}
    assert found.postgres_admin_dsn.endswith(f":{LOCAL_POSTGRES_PORT}/postgres")


def test_containers_mode_without_an_engine_says_why(no_urls: pytest.MonkeyPatch) -> None:
    no_urls.setenv("ORDO_TEST_SERVERS", "containers")
    no_urls.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(RuntimeError, match="no container engine answers"):
        start_containers()


def test_an_unknown_mode_is_refused(no_urls: pytest.MonkeyPatch) -> None:
    no_urls.setenv("ORDO_TEST_SERVERS", "docker")
    with pytest.raises(RuntimeError, match="auto, local, containers"):
        servers_mode()


def test_urls_handed_to_workers_keep_their_source(
    no_urls: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    no_urls.setenv("ORDO_TEST_POSTGRES_URL", "postgresql://postgres:x@127.0.0.1:1/postgres")
    no_urls.setenv("ORDO_TEST_KAFKA_BOOTSTRAP", "127.0.0.1:2")
    no_urls.setenv("ORDO_TEST_REDIS_URL", "redis://:x@127.0.0.1:3/0")
    no_urls.setenv("ORDO_TEST_SERVERS_SOURCE", "postgres=environment,kafka=testcontainers")
    found = resolve_endpoints(tmp_path)
    assert found.source == {
        "postgres": "environment",
        "kafka": "testcontainers",
        "redis": "environment",
    }


@pytest.mark.skipif(not IN_CONTAINERS, reason="runs in `make test-containers` (ORDO_TEST_SERVERS)")
async def test_the_servers_are_the_containers(ordo_endpoints: Endpoints) -> None:
    assert ordo_endpoints.source == {
        "postgres": "testcontainers",
        "kafka": "testcontainers",
        "redis": "testcontainers",
    }
    # Published on free ports, never the shared stack's.
    assert not ordo_endpoints.postgres_admin_dsn.endswith(f":{LOCAL_POSTGRES_PORT}/postgres")
    assert not ordo_endpoints.kafka_bootstrap.endswith(f":{LOCAL_KAFKA_PORT}")
    assert ordo_endpoints.redis_host_port[1] != LOCAL_REDIS_PORT
    conn = await asyncpg.connect(ordo_endpoints.postgres_admin_dsn, timeout=10)
    try:
        # The image's own cluster: a fresh one, with no ordo_<service> databases of `make up`.
        names = {row["datname"] for row in await conn.fetch("SELECT datname FROM pg_database")}
        assert "ordo_orders" not in names
        assert (await conn.fetchval("SHOW server_version")).startswith("15.")
    finally:
        await conn.close()
    redis = Redis.from_url(ordo_endpoints.redis_url, socket_timeout=5)
    try:
        assert await redis.ping()
    finally:
        await redis.aclose()


@pytest.mark.skipif(not IN_CONTAINERS, reason="runs in `make test-containers` (ORDO_TEST_SERVERS)")
def test_an_engine_without_our_images_is_not_used(no_urls: pytest.MonkeyPatch) -> None:
    """A developer's Docker without the images of `make images`: auto mode keeps the local
    servers; containers mode says which image is missing. Nothing is started or pulled."""
    assert os.environ.get("DOCKER_HOST")  # the engine of `make test-containers` answers
    no_urls.setenv("ORDO_TEST_KAFKA_IMAGE", "localhost/ordo-no-such-image:0")
    assert start_containers() is None
    no_urls.setenv("ORDO_TEST_SERVERS", "containers")
    with pytest.raises(RuntimeError, match="ordo-no-such-image"):
        start_containers()
