"""One service spec, any process layout: a service's roles in one process or apart.

A service declares its roles once, in a :class:`ServiceSpec` (``<svc>/entrypoints/service.py``):
the API app, the consumer process, the outbox table its relay publishes, its background
workers. :func:`run_service` runs any subset of them in one event loop, chosen by
``ORDO_ROLES`` (``all``, or e.g. ``api,consumer``) or by the caller::

    SPEC = ServiceSpec(
        distribution="ordo-orders",
        settings=OrdersSettings,
        api=lambda settings, shared: build_app(settings, resources=shared),
        consumers=lambda settings, shared: Consumers(
            build_consumer(settings, resources=shared), partitions=settings.topic_partitions
        ),
        outbox=outbox_table,
        workers=lambda settings, shared: orders_workers(settings, shared),
        health_ports=lambda s: {"consumer": s.consumer_health_port, ...},
    )

    def main() -> None:              # ordo-orders: ORDO_ROLES, all by default
        run_service(SPEC)

    def consumer_main() -> None:     # ordo-orders-consumer: the split layout's process
        run_service(SPEC, roles="consumer")

The roles of one process share a :class:`ProcessResources`: one database engine (the pool of
``settings.database``), one relay doorbell that wakes the in-process relay without a NOTIFY
when that relay owns every lane, one Kafka probe. The process serves one HTTP server: the API
app (or, without an API, the first role's health app), whose ``/health/ready`` runs every
role's checks (``consumer.kafka``, ``relay.postgres``, ...) and whose ``/metrics`` covers them
all. On SIGTERM: HTTP stops accepting and drains, consumers finish their batches and flush
their offsets, the relay finishes its round, workers finish theirs, lifespans close, the engine
is disposed of.

Not re-exported by ``shared``'s other packages: it builds on all of them.
"""

from shared.process._resources import ProcessDoorbell, ProcessResources
from shared.process._runner import Unit, build_units, run_service, serve_roles
from shared.process._spec import ROLES, Consumers, ServiceSpec, Worker

__all__ = [
    "ROLES",
    "Consumers",
    "ProcessDoorbell",
    "ProcessResources",
    "ServiceSpec",
    "Unit",
    "Worker",
    "build_units",
    "run_service",
    "serve_roles",
]
