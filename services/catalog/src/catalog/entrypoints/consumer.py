"""Catalog's saga consumer: ``ordo-catalog-consumer``.

Consumes ``orders.events`` as group ``catalog`` (reserve, release, commit stock) through the
chassis' idempotent consumer, and serves ``/health/live``, ``/health/ready`` and ``/metrics`` on
``ORDO_CONSUMER_HEALTH_PORT`` (8102). On SIGTERM the health server stops, then the broker
finishes the message in progress, the consumer flushes its offset commits and exits.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import uvicorn

from catalog.bootstrap import CatalogSettings, build_consumer
from shared.inbox import ensure_inbox_topics
from shared.observability import configure_logging, configure_tracing


async def _serve(settings: CatalogSettings) -> None:
    await ensure_inbox_topics(
        settings.kafka.bootstrap_servers,
        settings.orders_topic,
        settings.consumer_group,
        partitions=settings.orders_partitions,
    )
    process = build_consumer(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            process.health,
            host=settings.http_host,
            port=settings.consumer_health_port,
            log_config=None,
            access_log=False,
        )
    )
    await process.broker.start()
    try:
        await server.serve()  # returns on SIGTERM/SIGINT
    finally:
        await process.consumer.flush()
        await process.broker.stop()
        await process.consumer.close()
        await process.engine.dispose()


def main() -> None:
    """Read settings, configure logging and tracing, consume until SIGTERM."""
    settings = CatalogSettings()
    configure_logging(f"{settings.service_name}-consumer", settings.log_level)
    configure_tracing(
        f"{settings.service_name}-consumer",
        version("ordo-catalog"),
        settings.otel_exporter_otlp_endpoint,
    )
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
