"""Notifications' consumer: ``ordo-notifications-consumer``.

Consumes ``orders.events`` and ``payments.events`` as group ``notifications`` through the
chassis' idempotent consumer (each subscribable event schedules its deliveries, once), and
serves ``/health/live``, ``/health/ready`` and ``/metrics`` on ``ORDO_CONSUMER_HEALTH_PORT``
(8105). On SIGTERM the health server stops, then the broker finishes the message in progress,
the consumers flush their offset commits and exit.
"""

from __future__ import annotations

from importlib.metadata import version

from notifications.bootstrap import NotificationsSettings, build_consumer
from shared.inbox.process import serve_consumers
from shared.observability import configure_process
from shared.runtime import run


def main() -> None:
    """Read settings, configure logging and tracing, consume until SIGTERM."""
    settings = NotificationsSettings()
    configure_process(settings, version("ordo-notifications"), "consumer")
    run(
        serve_consumers(
            build_consumer(settings),
            host=settings.http_host,
            port=settings.consumer_health_port,
            partitions=settings.topic_partitions,
        )
    )


if __name__ == "__main__":
    main()
