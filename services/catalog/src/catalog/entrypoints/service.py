"""Catalog's processes declared once; ``ordo-catalog`` runs the roles ``ORDO_ROLES`` names.

Roles: ``api`` (contracts/openapi/catalog.yaml with its read caches; ``ORDO_HTTP_PORT`` 8002),
``consumer`` (reserves, releases and commits stock on ``orders.events``, group ``catalog``),
``relay`` (the outbox to ``catalog.events``, and the housekeeping its spec declares). All
of them by default, in one process on port 8002; each alone is also ``ordo-catalog-<role>``, on its
own health port (8102, 8202) when it is not the API.

The ``worker`` role runs bulk stock imports (shared.jobs: leased, heartbeated, resumed from
their checkpoint after a crash; ``ordo-catalog-worker`` alone, health on 8302).
"""

from __future__ import annotations

from catalog.adapters.persistence.tables import idempotency_keys, outbox
from catalog.bootstrap import CatalogSettings, build_app, build_consumer, build_workers
from shared.housekeeping import declare
from shared.process import Consumers, ProcessResources, ServiceSpec, run_service


def _consumers(settings: CatalogSettings, resources: ProcessResources) -> Consumers:
    process = build_consumer(settings, resources=resources)
    return Consumers(process, partitions=settings.orders_partitions)


SPEC = ServiceSpec(
    distribution="ordo-catalog",
    settings=CatalogSettings,
    api=lambda settings, resources: build_app(settings, resources=resources),
    consumers=_consumers,
    outbox=outbox,
    workers=lambda settings, resources: build_workers(settings, resources=resources),
    housekeeping=declare(outbox=outbox, idempotency_keys=idempotency_keys, inbox=True),
)


def main() -> None:
    """Run the roles of ``ORDO_ROLES`` (default: all) in one process until SIGTERM."""
    run_service(SPEC)


if __name__ == "__main__":
    main()
