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
    startup_s: float = 0.0  # how long starting the containers took, if any were started
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


def _engine_problem() -> str | None:
    """Why no Docker-API engine answers (``DOCKER_HOST`` or the default socket), or None."""
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return "neither DOCKER_HOST nor /var/run/docker.sock"
    try:
        import docker  # noqa: PLC0415 - optional, only where an engine is in play

        # 10 s: podman's API answers its first request slowly on a busy machine.
        docker.from_env(timeout=10).ping()
    except Exception as error:
        return f"{os.environ.get('DOCKER_HOST', '/var/run/docker.sock')}: {error!r}"
    return None


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


SERVERS_VARIABLE = "ORDO_TEST_SERVERS"
_MODES = ("auto", "local", "containers")
# Set with the URLs the controller hands its workers: where they came from (for ``source``).
_SOURCE_VARIABLE = "ORDO_TEST_SERVERS_SOURCE"
_URL_VARIABLES = {
    "postgres": "ORDO_TEST_POSTGRES_URL",
    "kafka": "ORDO_TEST_KAFKA_BOOTSTRAP",
    "redis": "ORDO_TEST_REDIS_URL",
}


def servers_mode() -> str:
    """``ORDO_TEST_SERVERS``: ``auto`` (the default), ``local`` or ``containers``."""
    mode = os.environ.get(SERVERS_VARIABLE, "auto").strip().lower() or "auto"
    if mode not in _MODES:
        raise RuntimeError(f"{SERVERS_VARIABLE} is one of {', '.join(_MODES)}, not {mode!r}")
    return mode


def _from_environment() -> Endpoints:
    found = Endpoints(
        postgres_admin_dsn=os.environ.get(_URL_VARIABLES["postgres"], ""),
        kafka_bootstrap=os.environ.get(_URL_VARIABLES["kafka"], ""),
        redis_url=os.environ.get(_URL_VARIABLES["redis"], ""),
    )
    labels = dict(
        item.split("=", 1)
        for item in os.environ.get(_SOURCE_VARIABLE, "").split(",")
        if "=" in item
    )
    for name, variable in _URL_VARIABLES.items():
        if os.environ.get(variable):
            found.source[name] = labels.get(name, "environment")
    return found


def start_containers() -> Endpoints | None:
    """Start containers for the servers the environment names no URL for, when the mode asks.

    Called once per test run (the plugin does it in the xdist controller, which then hands the
    URLs to its workers through the environment). Returns None when containers are not used:
    mode ``local``, every URL given, or mode ``auto`` with no engine answering or without the
    servers' images on it.
    """
    mode = servers_mode()
    found = _from_environment()
    if mode == "local" or len(found.source) == 3:
        return None
    if problem := _engine_problem():
        if mode == "containers":
            raise RuntimeError(
                f"{SERVERS_VARIABLE}=containers but no container engine answers ({problem}); "
                "`make test-containers` starts podman's"
            )
        return None
    from shared.testing._containers import missing_images, start_missing  # noqa: PLC0415

    if absent := missing_images(found):
        if mode == "containers":
            raise RuntimeError(f"no image {', '.join(absent)} on the engine: `make images`")
        # An engine with none of our images (a developer's Docker): the local servers, as before.
        return None
    start_missing(found)
    return found


def export_endpoints(found: Endpoints) -> None:
    """Put ``found``'s URLs into the environment, where :func:`resolve_endpoints` reads them."""
    os.environ[_URL_VARIABLES["postgres"]] = found.postgres_admin_dsn
    os.environ[_URL_VARIABLES["kafka"]] = found.kafka_bootstrap
    os.environ[_URL_VARIABLES["redis"]] = found.redis_url
    os.environ[_SOURCE_VARIABLE] = ",".join(
        f"{name}={label}" for name, label in found.source.items()
    )


def resolve_endpoints(rootdir: Path) -> Endpoints:
    """Find the servers for this test session; see the package docstring for the precedence.

    Containers are started by the plugin before this runs (:func:`start_containers`); here the
    environment's URLs come first, then the local servers.
    """
    found = _from_environment()
    if len(found.source) == 3:
        return found
    if servers_mode() == "containers":
        raise RuntimeError(f"{SERVERS_VARIABLE}=containers, yet no container URLs were handed over")
    data = _data_dir(rootdir)
    if not found.postgres_admin_dsn:
        password = quote(_secret(data, "postgres_superuser"), safe="")
        port = os.environ.get("ORDO_PG_PORT", LOCAL_POSTGRES_PORT)
        found.postgres_admin_dsn = f"postgresql://postgres:{password}@127.0.0.1:{port}/postgres"
        found.source["postgres"] = "local"
    if not found.kafka_bootstrap:
        port = os.environ.get("ORDO_KAFKA_PORT", LOCAL_KAFKA_PORT)
        found.kafka_bootstrap = f"127.0.0.1:{port}"
        found.source["kafka"] = "local"
    if not found.redis_url:
        password = quote(_secret(data, "redis_password"), safe="")
        port = os.environ.get("ORDO_REDIS_PORT", LOCAL_REDIS_PORT)
        found.redis_url = f"redis://:{password}@127.0.0.1:{port}/0"
        found.source["redis"] = "local"
    return found
