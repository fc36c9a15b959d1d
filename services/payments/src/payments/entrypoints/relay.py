"""Payments' outbox relay: ``ordo-payments-relay``.

Publishes ``payments.events`` from the outbox and serves ``/health/live``, ``/health/ready`` and
``/metrics`` on ``ORDO_RELAY_HEALTH_PORT`` (8204), so infra can probe it like the APIs. On
SIGTERM the health server stops, then the relay finishes its round and exits.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_relay
from shared.http import serve_with_worker
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, relay until SIGTERM."""
    settings = PaymentsSettings()
    configure_logging(f"{settings.service_name}-relay", settings.log_level)
    configure_tracing(
        f"{settings.service_name}-relay",
        version("ordo-payments"),
        settings.otel_exporter_otlp_endpoint,
    )
    asyncio.run(_serve(settings))


async def _serve(settings: PaymentsSettings) -> None:
    relay, health = build_relay(settings)
    await serve_with_worker(
        relay.run(),
        relay.stop,
        health,
        host=settings.http_host,
        port=settings.relay_health_port,
        name="payments-relay",
    )


if __name__ == "__main__":
    main()
