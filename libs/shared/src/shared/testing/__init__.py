"""Test support for Ordo services: real PostgreSQL, Kafka and Redis for every test, isolated.

The pytest plugin (:mod:`shared.testing.plugin`, registered through the ``pytest11`` entry point)
resolves the servers with this precedence:

1. explicit URLs in the environment: ``ORDO_TEST_POSTGRES_URL`` (a superuser DSN),
   ``ORDO_TEST_KAFKA_BOOTSTRAP`` (``host:port``), ``ORDO_TEST_REDIS_URL``
   (``redis://:password@host:port/0``);
2. testcontainers, chosen by ``ORDO_TEST_SERVERS``: ``containers`` always (an error when no
   engine answers), ``auto`` (the default) when a Docker-API engine answers (``DOCKER_HOST`` or
   ``/var/run/docker.sock``; podman's socket here, see docs/images.md) and has the servers'
   images (never pulled), ``local`` never. The
   images are the project's own (``make images``), started once per run and shared by the xdist
   workers, on free host ports;
3. the local servers started by ``make up`` / ``make test`` (``infra/``), whose passwords are read
   from ``.data/secrets``.

Isolation for ``pytest -n``: a fresh database per xdist worker, unique topic and group names per
test, a unique Redis key prefix per test.
"""

from shared.testing._endpoints import Endpoints, resolve_endpoints

__all__ = ["Endpoints", "resolve_endpoints"]
