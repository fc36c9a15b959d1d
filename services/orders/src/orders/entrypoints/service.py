"""Orders' processes declared once; ``ordo-orders`` runs the roles ``ORDO_ROLES`` names.

Roles: ``api`` (contracts/openapi/orders.yaml, ``ORDO_HTTP_PORT`` 8003), ``consumer`` (the saga on
``catalog.events`` and ``payments.events``, group ``orders``), ``relay`` (the outbox to
``orders.events``, and the housekeeping its spec declares), ``worker`` (the deadline
sweeper). All of them by default, in one process on port 8003; each alone is also
``ordo-orders-<role>``, on its own health port (8103, 8203, 8303) when it is not the API.
"""

from __future__ import annotations

from orders.adapters.persistence.tables import idempotency_keys, outbox
from orders.bootstrap import OrdersSettings, build_app, build_consumer, build_worker
from shared.housekeeping import declare
from shared.process import Consumers, ProcessResources, ServiceSpec, Worker, run_service


def _consumers(settings: OrdersSettings, resources: ProcessResources) -> Consumers:
    process = build_consumer(settings, resources=resources)
    return Consumers(process, partitions=settings.topic_partitions)


def _workers(settings: OrdersSettings, resources: ProcessResources) -> list[Worker]:
    process = build_worker(settings, resources=resources)
    return [Worker("orders-worker", process.worker.run, process.worker.stop, process.close)]


SPEC = ServiceSpec(
    distribution="ordo-orders",
    settings=OrdersSettings,
    api=lambda settings, resources: build_app(settings, resources=resources),
    consumers=_consumers,
    outbox=outbox,
    housekeeping=declare(outbox=outbox, idempotency_keys=idempotency_keys, inbox=True),
    workers=_workers,
)


def main() -> None:
    """Run the roles of ``ORDO_ROLES`` (default: all) in one process until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
