"""Where the test servers are: environment, then testcontainers, then the local bootstrap."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from shared.settings import LOCAL_KAFKA_PORT, LOCAL_POSTGRES_PORT, LOCAL_REDIS_PORT


@dataclass
class Endpoints:
    """Connection details of the three servers the tests use, and where they came from."""

    postgres_admin_dsn: str
    kafka_bootstrap: str
    redis_url: str
    source: dict[str, str] = field(default_factory=dict)
    _containers: list[Any] = field(default_factory=list, repr=False)

    def stop(self) -> None:
        """Stop the containers this resolution started, if any."""
        for container in reversed(self._containers):
            with contextlib.suppress(Exception):
                container.stop()
        self._containers.clear()

    @property
    def redis_password(self) -> str | None:
        """The password in ``redis_url``, if any."""
        return urlsplit(self.redis_url).password

    @property
    def redis_host_port(self) -> tuple[str, int]:
        """Host and port of ``redis_url``."""
        parts = urlsplit(self.redis_url)
        return parts.hostname or "127.0.0.1", parts.port or 6379


def _docker_answers() -> bool:
    """True when a Docker engine is reachable (socket present and ``ping`` answers)."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker  # noqa: PLC0415 - optional, only where Docker is in play

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


def _data_dir(start: Path) -> Path:
    if env := os.environ.get("ORDO_DATA"):
        return Path(env)
    for folder in (start, *start.parents):
        if (folder / ".data").is_dir():
            return folder / ".data"
    return start / ".data"


def _secret(data: Path, name: str) -> str:
    path = data / "secrets" / name
    if not path.is_file():
        raise RuntimeError(
            f"{path} is missing: start the local servers first (`make up`), or set "
            "ORDO_TEST_POSTGRES_URL / ORDO_TEST_KAFKA_BOOTSTRAP / ORDO_TEST_REDIS_URL"
        )
    return path.read_text().strip()


def resolve_endpoints(rootdir: Path) -> Endpoints:
    """Find the servers for this test session; see the package docstring for the precedence."""
    env_pg = os.environ.get("ORDO_TEST_POSTGRES_URL")
    env_kafka = os.environ.get("ORDO_TEST_KAFKA_BOOTSTRAP")
    env_redis = os.environ.get("ORDO_TEST_REDIS_URL")
    found = Endpoints(
        postgres_admin_dsn=env_pg or "", kafka_bootstrap=env_kafka or "", redis_url=env_redis or ""
    )
    for name, value in (("postgres", env_pg), ("kafka", env_kafka), ("redis", env_redis)):
        if value:
            found.source[name] = "environment"
    if len(found.source) == 3:
        return found
    if _docker_answers():
        _start_containers(found)
        return found
    data = _data_dir(rootdir)
    if not env_pg:
        password = quote(_secret(data, "postgres_superuser"), safe="")
        port = os.environ.get("ORDO_PG_PORT", LOCAL_POSTGRES_PORT)
        found.postgres_admin_dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        found.source["postgres"] = "local"
    if not env_kafka:
        port = os.environ.get("ORDO_KAFKA_PORT", LOCAL_KAFKA_PORT)
        found.kafka_bootstrap = f"127.0.0.1:{port}"
        found.source["kafka"] = "local"
    if not env_redis:
        password = quote(_secret(data, "redis_password"), safe="")
        port = os.environ.get("ORDO_REDIS_PORT", LOCAL_REDIS_PORT)
        found.redis_url = f"redis://:{password}@127.0.0.1:{port}/0"
        found.source["redis"] = "local"
    return found


def _start_containers(found: Endpoints) -> None:
    # Imported here: testcontainers is a dev dependency and only matters where Docker runs.
    from testcontainers.kafka import KafkaContainer  # noqa: PLC0415
    from testcontainers.postgres import PostgresContainer  # noqa: PLC0415
    from testcontainers.redis import RedisContainer  # noqa: PLC0415

    if not found.postgres_admin_dsn:
        pg = PostgresContainer("postgres:15", driver=None).start()
        found._containers.append(pg)
        found.postgres_admin_dsn = pg.get_connection_url()
        found.source["postgres"] = "testcontainers"
    if not found.kafka_bootstrap:
        kafka = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft().start()
        found._containers.append(kafka)
        found.kafka_bootstrap = kafka.get_bootstrap_server()
        found.source["kafka"] = "testcontainers"
    if not found.redis_url:
        redis = RedisContainer("redis:7").start()
        found._containers.append(redis)
        host, port = redis.get_container_host_ip(), redis.get_exposed_port(6379)
        found.redis_url = f"redis://{host}:{port}/0"
        found.source["redis"] = "testcontainers"
