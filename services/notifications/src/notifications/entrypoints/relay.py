"""Notifications' outbox relay: ``ordo-notifications-relay``.

Publishes ``notifications.events`` (delivery outcomes) from the outbox and serves
``/health/live``, ``/health/ready`` and ``/metrics`` on ``ORDO_RELAY_HEALTH_PORT`` (8205).
On SIGTERM the health server stops, then the relay finishes its round and exits.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from notifications.bootstrap import NotificationsSettings, build_relay
from shared.http import serve_with_worker
from shared.observability import configure_logging, configure_tracing


def main() -> None:
    """Read settings, configure logging and tracing, relay until SIGTERM."""
    settings = NotificationsSettings()
    name = f"{settings.service_name}-relay"
    configure_logging(name, settings.log_level)
    configure_tracing(name, version("ordo-notifications"), settings.otel_exporter_otlp_endpoint)
    relay, health = build_relay(settings)
    asyncio.run(
        serve_with_worker(
            relay.run(),
            relay.stop,
            health,
            host=settings.http_host,
            port=settings.relay_health_port,
            name="notifications-relay",
        )
    )


if __name__ == "__main__":
    main()
