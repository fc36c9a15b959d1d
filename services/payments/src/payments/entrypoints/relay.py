"""Payments' outbox relay: ``ordo-payments-relay``.

Publishes ``payments.events`` from the outbox and serves ``/health/live``, ``/health/ready`` and
``/metrics`` on ``ORDO_RELAY_HEALTH_PORT`` (8204), so infra can probe it like the APIs. On
SIGTERM the health server stops, then the relay finishes its round and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_relay
from shared.observability import configure_process
from shared.outbox.process import serve_relay
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, relay until SIGTERM."""
    settings = PaymentsSettings()
    name = configure_process(settings, version("ordo-payments"), "relay")
    run(_serve(settings, name))


async def _serve(settings: PaymentsSettings, name: str) -> None:
    relay, health = build_relay(settings)
    await serve_relay(
        relay, health, host=settings.http_host, port=settings.relay_health_port, name=name
    )


if __name__ == "__main__":
    main()
