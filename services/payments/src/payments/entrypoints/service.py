"""Payments' processes declared once; ``ordo-payments`` runs the roles ``ORDO_ROLES`` names.

Roles: ``api`` (the payment of an order, read only; ``ORDO_HTTP_PORT`` 8004), ``consumer`` (records
or cancels a payment on ``orders.events``, group ``payments``; it never calls the provider, it
wakes the worker), ``relay`` (the outbox to ``payments.events``, and the housekeeping of
``payments.housekeeping``), ``worker`` (the only role that calls the provider: claims due payments,
authorises or voids them outside any transaction, behind a circuit breaker). All of them by
default, in one process on port 8004; each alone is also ``ordo-payments-<role>``, on its own
health port (8104, 8204, 8304) when it is not the API. On SIGTERM the worker's payments in flight
finish before it stops.
"""

from __future__ import annotations

from payments.adapters.persistence.tables import outbox
from payments.bootstrap import PaymentsSettings, build_app, build_consumer, build_worker
from shared.housekeeping import declare
from shared.process import Consumers, ProcessResources, ServiceSpec, Worker, run_service


def _consumers(settings: PaymentsSettings, resources: ProcessResources) -> Consumers:
    process = build_consumer(settings, resources=resources)
    return Consumers(process, partitions=settings.orders_partitions)


def _workers(settings: PaymentsSettings, resources: ProcessResources) -> list[Worker]:
    worker, _health = build_worker(settings, resources=resources)
    return [Worker("payments-worker", worker.run, worker.stop)]


SPEC = ServiceSpec(
    distribution="ordo-payments",
    settings=PaymentsSettings,
    api=lambda settings, resources: build_app(settings, resources=resources),
    consumers=_consumers,
    outbox=outbox,
    housekeeping=declare(outbox=outbox, inbox=True),
    workers=_workers,
)


def main() -> None:
    """Run the roles of ``ORDO_ROLES`` (default: all) in one process until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
