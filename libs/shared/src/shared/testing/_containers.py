"""PostgreSQL, Redis and Kafka in containers (testcontainers), from images made by the project.

The images are built by ``make images`` (infra/images/servers/) from Debian's packages and the
broker jars of infra/kafka, so no registry is needed; ``ORDO_TEST_POSTGRES_IMAGE``,
``ORDO_TEST_REDIS_IMAGE`` and ``ORDO_TEST_KAFKA_IMAGE`` name others built the same way. Every
port is published on a free host port, never on the local stack's (15432, 16379, 19092).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from shared.testing._endpoints import Endpoints

POSTGRES_IMAGE = "localhost/ordo-test-postgres:15"
REDIS_IMAGE = "localhost/ordo-test-redis:7"
KAFKA_IMAGE = "localhost/ordo-test-kafka:latest"
# Set by infra/images/test-containers.sh: containers of one run carry it as a label.
RUN_VARIABLE = "ORDO_TEST_RUN_ID"
RUN_LABEL = "dev.ordo.test-run"
# Kafka on a JVM in a container takes ~10-20 s on 2 busy cores; give it room.
STARTUP_TIMEOUT_S = 120


def _image(variable: str, default: str) -> str:
    return os.environ.get(variable) or default


def _free_port() -> int:
    """A TCP port free on this host now (the kernel's choice, so never the local stack's)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _host(container: Any) -> str:
    # The engine's host, known before the container starts (Kafka must advertise it). A unix
    # socket engine reports "localhost", which may resolve to ::1 while ports are published on
    # IPv4 only.
    host = str(container.get_docker_client().host())
    return "127.0.0.1" if host == "localhost" else host


def _container(image: str, message: str) -> Any:
    # Imported here: testcontainers is a dev dependency that matters only where an engine runs.
    from testcontainers.core.container import DockerContainer  # noqa: PLC0415
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy  # noqa: PLC0415

    strategy = LogMessageWaitStrategy(re.compile(re.escape(message)))
    container = DockerContainer(image).waiting_for(strategy.with_startup_timeout(STARTUP_TIMEOUT_S))
    if run := os.environ.get(RUN_VARIABLE):
        # Lets the caller remove this run's containers even if pytest dies before stopping them.
        container = container.with_kwargs(labels={RUN_LABEL: run})
    return container


def _start(found: Endpoints, container: Any) -> None:
    """Start ``container``; on failure remove it and raise with the tail of its logs."""
    try:
        container.start()
    except Exception as error:
        logs = b""
        with contextlib.suppress(Exception):
            out, err = container.get_logs()
            logs = (out or b"") + (err or b"")
        with contextlib.suppress(Exception):
            container.stop()
        tail = logs.decode(errors="replace")[-2000:]
        raise RuntimeError(f"{container.image} did not start: {error}\n{tail}") from error
    found._containers.append(container)


def start_postgres(found: Endpoints) -> None:
    """Start PostgreSQL; set ``found.postgres_admin_dsn`` to its superuser DSN."""
    password = secrets.token_urlsafe(16)
    container = (
        _container(
            _image("ORDO_TEST_POSTGRES_IMAGE", POSTGRES_IMAGE),
            "database system is ready to accept connections",
        )
        .with_env("POSTGRES_PASSWORD", password)
        .with_bind_ports(5432, _free_port())
    )
    _start(found, container)
    port = container.get_exposed_port(5432)
    found.postgres_admin_dsn = (
        f"postgresql://postgres:{quote(password, safe='')}@{_host(container)}:{port}/postgres"
    )
    found.source["postgres"] = "testcontainers"


def start_redis(found: Endpoints) -> None:
    """Start Redis with a password; set ``found.redis_url``."""
    password = secrets.token_urlsafe(16)
    container = (
        _container(_image("ORDO_TEST_REDIS_IMAGE", REDIS_IMAGE), "Ready to accept connections")
        .with_env("REDIS_PASSWORD", password)
        .with_bind_ports(6379, _free_port())
    )
    _start(found, container)
    port = container.get_exposed_port(6379)
    found.redis_url = f"redis://:{quote(password, safe='')}@{_host(container)}:{port}/0"
    found.source["redis"] = "testcontainers"


def start_kafka(found: Endpoints) -> None:
    """Start a one-node Kafka (KRaft); set ``found.kafka_bootstrap``.

    A broker advertises the address clients must use, which a random published port would hide
    from it; so the broker listens inside on the same port number it is published on.
    """
    port = _free_port()
    container = _container(_image("ORDO_TEST_KAFKA_IMAGE", KAFKA_IMAGE), "Kafka Server started")
    host = _host(container)
    container = (
        container.with_env("KAFKA_PORT", str(port))
        .with_env("KAFKA_ADVERTISED_HOST", host)
        .with_bind_ports(port, port)
    )
    _start(found, container)
    found.kafka_bootstrap = f"{host}:{port}"
    found.source["kafka"] = "testcontainers"


def _wanted(found: Endpoints) -> list[tuple[Callable[[Endpoints], None], str]]:
    """The starters and images of the servers ``found`` has no address for."""
    servers = (
        (start_postgres, found.postgres_admin_dsn, "ORDO_TEST_POSTGRES_IMAGE", POSTGRES_IMAGE),
        (start_redis, found.redis_url, "ORDO_TEST_REDIS_IMAGE", REDIS_IMAGE),
        (start_kafka, found.kafka_bootstrap, "ORDO_TEST_KAFKA_IMAGE", KAFKA_IMAGE),
    )
    return [(start, _image(var, image)) for start, have, var, image in servers if not have]


def missing_images(found: Endpoints) -> list[str]:
    """The images needed for ``found``'s missing servers that the engine does not have.

    Never pulled: they are made here (``make images``), and no registry may be reachable.
    """
    import docker  # noqa: PLC0415 - optional, only where an engine is in play

    client = docker.from_env(timeout=10)
    absent = []
    for _start, image in _wanted(found):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            absent.append(image)
    return absent


def start_missing(found: Endpoints) -> None:
    """Start a container for each server ``found`` has no address for yet, all at once.

    In parallel: Kafka's JVM and PostgreSQL's initdb each take many seconds on 2 busy cores.
    """
    wanted = [start for start, _image_name in _wanted(found)]
    with ThreadPoolExecutor(max_workers=3, thread_name_prefix="ordo-testcontainers") as pool:
        futures = [pool.submit(start, found) for start in wanted]
    errors = [error for future in futures if (error := future.exception()) is not None]
    if errors:
        found.stop()
        raise errors[0]
