"""Orders' outbox relay: ``ordo-orders-relay``.

Publishes ``orders.events`` from the outbox and serves ``/health/live``, ``/health/ready`` and
``/metrics`` on ``ORDO_RELAY_HEALTH_PORT`` (8203). On SIGTERM the health server stops, then the
relay finishes its round and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from orders.bootstrap import OrdersSettings, build_relay
from shared.observability import configure_process
from shared.outbox.process import serve_relay
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, relay until SIGTERM."""
    settings = OrdersSettings()
    name = configure_process(settings, version("ordo-orders"), "relay")
    relay, health = build_relay(settings)
    run(
        serve_relay(
            relay, health, host=settings.http_host, port=settings.relay_health_port, name=name
        )
    )


if __name__ == "__main__":
    main()
