"""Payments' saga consumer: ``ordo-payments-consumer``.

Consumes ``orders.events`` as group ``payments`` (record a payment, cancel it) through the
chassis' idempotent consumer, and serves ``/health/live``, ``/health/ready`` and ``/metrics`` on
``ORDO_CONSUMER_HEALTH_PORT`` (8104). It never calls the provider: it wakes the worker. On
SIGTERM the health server stops, then the broker finishes the message in progress, the consumer
flushes its offset commits and exits.
"""

from __future__ import annotations

from importlib.metadata import version

from payments.bootstrap import PaymentsSettings, build_consumer
from shared.inbox.process import serve_consumers
from shared.observability import configure_process
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, consume until SIGTERM."""
    settings = PaymentsSettings()
    configure_process(settings, version("ordo-payments"), "consumer")
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
