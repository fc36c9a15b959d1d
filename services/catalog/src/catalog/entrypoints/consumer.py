"""Catalog's saga consumer: ``ordo-catalog-consumer``.

Consumes ``orders.events`` as group ``catalog`` (reserve, release, commit stock) through the
chassis' idempotent consumer, and serves ``/health/live``, ``/health/ready`` and ``/metrics`` on
``ORDO_CONSUMER_HEALTH_PORT`` (8102). On SIGTERM the health server stops, then the broker
finishes the message in progress, the consumer flushes its offset commits and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from catalog.bootstrap import CatalogSettings, build_consumer
from shared.inbox.process import serve_consumers
from shared.observability import configure_process
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, consume until SIGTERM."""
    settings = CatalogSettings()
    configure_process(settings, version("ordo-catalog"), "consumer")
    run(
        serve_consumers(
            build_consumer(settings),
            host=settings.http_host,
            port=settings.consumer_health_port,
            partitions=settings.orders_partitions,
        )
    )


if __name__ == "__main__":
    main()
