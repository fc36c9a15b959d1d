"""Catalog's outbox relay: ``ordo-catalog-relay``.

Publishes ``catalog.events`` from the outbox and serves ``/health/live``, ``/health/ready``
and ``/metrics`` on ``ORDO_RELAY_HEALTH_PORT`` (8202), so infra can probe it like the APIs.
On SIGTERM the health server stops, then the relay finishes its round and exits.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

import uvicorn

from catalog.bootstrap import CatalogSettings, build_relay
from shared.observability import configure_logging, configure_tracing


async def _serve(settings: CatalogSettings) -> None:
    relay, health = build_relay(settings)
    server = uvicorn.Server(
        uvicorn.Config(
            health,
            host=settings.http_host,
            port=settings.relay_health_port,
            log_config=None,
            access_log=False,
        )
    )
    relaying = asyncio.create_task(relay.run(), name="catalog-relay")
    serving = asyncio.create_task(server.serve(), name="catalog-relay-health")
    # uvicorn turns SIGTERM/SIGINT into a graceful exit of serve(); the relay follows it.
    done, _ = await asyncio.wait({relaying, serving}, return_when=asyncio.FIRST_COMPLETED)
    relay.stop()
    server.should_exit = True
    await asyncio.gather(relaying, serving, return_exceptions=True)
    for task in done:
        task.result()  # re-raise the failure that ended the first task, if any


def main() -> None:
    """Read settings, configure logging and tracing, relay until SIGTERM."""
    settings = CatalogSettings()
    configure_logging(f"{settings.service_name}-relay", settings.log_level)
    configure_tracing(
        f"{settings.service_name}-relay",
        version("ordo-catalog"),
        settings.otel_exporter_otlp_endpoint,
    )
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
