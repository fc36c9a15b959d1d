"""Notifications' processes declared once; ``ordo-notifications`` runs the roles ``ORDO_ROLES``
names.

Roles: ``api`` (webhook endpoints and the delivery log; ``ORDO_HTTP_PORT`` 8005), ``consumer`` (one
delivery per subscribed endpoint for each order and payment event, group ``notifications``),
``relay`` (the outbox to ``notifications.events``, and the housekeeping of
``notifications.housekeeping``), ``worker`` (signs and sends due deliveries, retried with backoff,
a circuit breaker per endpoint; claims are leased, so any number of replicas may run). All of them
by default, in one process on port 8005; each alone is also ``ordo-notifications-<role>``, on its
own health port (8105, 8205, 8305) when it is not the API. On SIGTERM the worker claims nothing
more and waits for its attempts in flight.
"""

from __future__ import annotations

from notifications.adapters.persistence.tables import idempotency_keys, outbox
from notifications.bootstrap import (
    NotificationsSettings,
    build_app,
    build_consumer,
    build_worker,
)
from notifications.housekeeping import delivery_log
from shared.housekeeping import declare
from shared.process import Consumers, ProcessResources, ServiceSpec, Worker, run_service


def _consumers(settings: NotificationsSettings, resources: ProcessResources) -> Consumers:
    process = build_consumer(settings, resources=resources)
    return Consumers(process, partitions=settings.topic_partitions)


def _workers(settings: NotificationsSettings, resources: ProcessResources) -> list[Worker]:
    process = build_worker(settings, resources=resources)
    return [Worker("notifications-worker", process.run, process.worker.stop)]


SPEC = ServiceSpec(
    distribution="ordo-notifications",
    settings=NotificationsSettings,
    api=lambda settings, resources: build_app(settings, resources=resources),
    consumers=_consumers,
    outbox=outbox,
    housekeeping=declare(
        outbox=outbox, idempotency_keys=idempotency_keys, inbox=True, own=delivery_log
    ),
    workers=_workers,
)


def main() -> None:
    """Run the roles of ``ORDO_ROLES`` (default: all) in one process until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
