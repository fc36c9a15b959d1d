"""Composition root of catalog: the only module that reads settings and wires adapters.

- :func:`bootstrap` wires the use cases from ports (unit tests pass fakes, no IO);
- :func:`build_use_cases` wires them on PostgreSQL and the outbox;
- :func:`build_app` builds the internal HTTP app (contracts/openapi/catalog.yaml);
- :func:`build_consumer` builds the saga consumer of ``orders.events`` (group ``catalog``);
- :func:`build_relay` builds the outbox relay of ``catalog.events``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version
from typing import Any
from uuid import UUID

import httpx
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from catalog.adapters.http.routes import build_router
from catalog.adapters.messaging.events import SOURCE
from catalog.adapters.messaging.handlers import build_handlers
from catalog.adapters.persistence.tables import outbox as outbox_table
from catalog.adapters.persistence.unit_of_work import CatalogUnitOfWork
from catalog.application.facade import CatalogUseCases
from catalog.application.ports import UnitOfWorkFactory
from catalog.application.use_cases.change_stock import ChangeStock
from catalog.application.use_cases.commit_reservation import CommitReservation
from catalog.application.use_cases.create_product import CreateProduct
from catalog.application.use_cases.get_product import GetProduct
from catalog.application.use_cases.get_stock_level import GetStockLevel
from catalog.application.use_cases.list_products import ListProducts
from catalog.application.use_cases.list_stock_levels import ListStockLevels
from catalog.application.use_cases.release_reservation import ReleaseReservation
from catalog.application.use_cases.reserve_for_order import ReserveForOrder
from catalog.application.use_cases.update_price import UpdatePrice
from shared.auth import JwksKeySource, KeySource, TokenVerifier, http_jwks
from shared.auth.dependencies import BearerAuth
from shared.clock import Clock, SystemClock
from shared.db import check_postgres, create_engine, create_session_factory
from shared.http import create_app
from shared.ids import new_id
from shared.inbox import IdempotentConsumer, RedeliveryPolicy
from shared.inbox.process import ConsumerProcess
from shared.messaging import KafkaProbe
from shared.outbox import Doorbell, Outbox, OutboxRelay, PgNotifyDoorbell
from shared.outbox.process import build_relay_process
from shared.settings import ServiceSettings

__all__ = [
    "CatalogSettings",
    "ConsumerProcess",
    "bootstrap",
    "build_app",
    "build_consumer",
    "build_relay",
    "build_use_cases",
]

ORDERS_TOPIC = "orders.events"
CONSUMER_GROUP = "catalog"


class AuthSettings(BaseModel):
    """Where identity's JWKS is and which tokens to accept (catalog verifies every token)."""

    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwks_timeout_s: float = Field(default=2.0, gt=0)
    issuer: str = "https://identity.ordo.local"
    audience: str = "ordo-api"
    leeway_s: float = Field(default=30.0, ge=0, le=60)


class CatalogSettings(ServiceSettings):
    """Catalog settings (database ``ordo_catalog`` by default)."""

    service_name: str = "catalog"
    http_port: int = 8002
    consumer_health_port: int = 8102
    relay_health_port: int = 8202
    orders_topic: str = ORDERS_TOPIC
    orders_partitions: int = 6
    consumer_group: str = CONSUMER_GROUP
    auth: AuthSettings = AuthSettings()


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    clock: Clock | None = None,
    new_id: Callable[[], UUID] = new_id,
) -> CatalogUseCases:
    """Wire every use case from its ports (real adapters or fakes)."""
    clock = clock or SystemClock()
    return CatalogUseCases(
        create_product=CreateProduct(uow, clock, new_id),
        update_price=UpdatePrice(uow, clock),
        change_stock=ChangeStock(uow, clock),
        get_product=GetProduct(uow),
        get_stock_level=GetStockLevel(uow),
        list_products=ListProducts(uow),
        list_stock_levels=ListStockLevels(uow),
        reserve_for_order=ReserveForOrder(uow, clock, new_id),
        release_reservation=ReleaseReservation(uow, clock),
        commit_reservation=CommitReservation(uow, clock),
    )


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession], doorbell: Doorbell | None = None
) -> Callable[[], CatalogUnitOfWork]:
    """Units of work over ``sessions`` writing catalog's outbox; ``doorbell`` wakes the relay."""
    outbox = Outbox(outbox_table, source=SOURCE)
    return partial(CatalogUnitOfWork, sessions, outbox, doorbell)


def build_use_cases(
    sessions: async_sessionmaker[AsyncSession], doorbell: Doorbell | None = None
) -> CatalogUseCases:
    """Wire the use cases on the real adapters over ``sessions``."""
    return bootstrap(uow=unit_of_work_factory(sessions, doorbell))


def build_app(settings: CatalogSettings, *, keys: KeySource | None = None) -> FastAPI:
    """Wire catalog's HTTP app (contracts/openapi/catalog.yaml).

    Tokens are verified against identity's JWKS (``keys`` replaces it in tests). Writes ring
    the relay's doorbell after commit.
    """
    engine = create_engine(settings.database, application_name=settings.service_name)
    doorbell = PgNotifyDoorbell(
        settings.database, outbox_table, application_name="catalog-doorbell"
    )
    use_cases = build_use_cases(create_session_factory(engine), doorbell)
    http = httpx.AsyncClient(timeout=settings.auth.jwks_timeout_s)
    source = keys or JwksKeySource(
        http_jwks(settings.auth.jwks_url, http, timeout_s=settings.auth.jwks_timeout_s)
    )
    verifier = TokenVerifier(
        source,
        issuer=settings.auth.issuer,
        audience=settings.auth.audience,
        leeway_s=settings.auth.leeway_s,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await http.aclose()
            await doorbell.close()
            await engine.dispose()

    return create_app(
        title="Ordo catalog",
        version=version("ordo-catalog"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        lifespan=lifespan,
        routers=[build_router(use_cases, BearerAuth(verifier))],
        readiness_timeout_s=settings.readiness_timeout_s,
    )


def build_consumer(
    settings: CatalogSettings, *, policy: RedeliveryPolicy | None = None
) -> ConsumerProcess:
    """Wire the consumer of ``orders.events``: each event's reservation change, the outbox
    rows of catalog's answer and the inbox claim commit in one transaction."""
    engine = create_engine(settings.database, application_name=f"{settings.service_name}-consumer")
    doorbell = PgNotifyDoorbell(
        settings.database, outbox_table, application_name="catalog-consumer-doorbell"
    )
    uow = unit_of_work_factory(create_session_factory(engine), doorbell)
    use_cases = bootstrap(uow=uow)
    broker = KafkaBroker(settings.kafka.bootstrap_servers, logger=None)
    handlers: dict[str, Any] = build_handlers(use_cases)
    consumer = IdempotentConsumer(
        broker,
        topic=settings.orders_topic,
        group=settings.consumer_group,
        handlers=handlers,
        kafka=settings.kafka,
        unit_of_work=uow,
        policy=policy,
    )
    kafka = KafkaProbe(settings.kafka)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await kafka.close()
            await doorbell.close()

    health = create_app(
        title="Ordo catalog consumer",
        version=version("ordo-catalog"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine), "kafka": kafka},
        lifespan=lifespan,
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return ConsumerProcess(broker, [consumer], health, engine, settings.kafka.bootstrap_servers)


def build_relay(settings: CatalogSettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``catalog.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-catalog"))
