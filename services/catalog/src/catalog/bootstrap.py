"""Composition root of catalog: the only module that reads settings and wires adapters.

- :func:`bootstrap` wires the use cases from ports (unit tests pass fakes, no IO);
- :func:`build_use_cases` wires them on PostgreSQL and the outbox;
- :func:`build_app` builds the internal HTTP app (contracts/openapi/catalog.yaml) with its read
  caches and the listener of ``catalog.events`` that keeps them coherent across instances;
- :func:`build_consumer` builds the saga consumer of ``orders.events`` (group ``catalog``);
- :func:`build_relay` builds the outbox relay of ``catalog.events``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version
from uuid import UUID

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.adapters.caching.read_cache import CatalogCaches, UncachedReads
from catalog.adapters.http.routes import build_router
from catalog.adapters.http.stock_imports import build_stock_import_router
from catalog.adapters.messaging.events import SOURCE, TOPIC
from catalog.adapters.messaging.handlers import build_handlers
from catalog.adapters.persistence.reads import SqlaCatalogReads
from catalog.adapters.persistence.tables import jobs as jobs_table
from catalog.adapters.persistence.tables import outbox as outbox_table
from catalog.adapters.persistence.unit_of_work import AfterCommit, CatalogUnitOfWork
from catalog.application.facade import CatalogUseCases
from catalog.application.ports import CatalogReadCache, CatalogReads, UnitOfWorkFactory
from catalog.application.reads import UnitOfWorkReads
from catalog.application.stock_imports import stock_import_use_cases
from catalog.application.use_cases.change_stock import ChangeStock
from catalog.application.use_cases.commit_reservation import CommitReservation
from catalog.application.use_cases.create_product import CreateProduct
from catalog.application.use_cases.get_product import GetProduct
from catalog.application.use_cases.get_stock_level import GetStockLevel
from catalog.application.use_cases.list_products import ListProducts
from catalog.application.use_cases.list_stock_levels import ListStockLevels
from catalog.application.use_cases.release_reservation import ReleaseReservation
from catalog.application.use_cases.reserve_for_order import ReserveForOrder
from catalog.application.use_cases.start_stock_import import IMPORT_KIND
from catalog.application.use_cases.update_price import UpdatePrice
from shared.auth import AuthSettings, KeySource, jwks_verifier
from shared.auth.dependencies import BearerAuth
from shared.caching import (
    CacheInvalidationListener,
    CachePolicy,
    LocalCacheGate,
    RedisCacheStore,
    RequestMemoMiddleware,
    create_redis,
)
from shared.clock import Clock, SystemClock
from shared.db import ReadOnlyDatabase, check_postgres, create_engine, create_session_factory
from shared.flags import FeatureFlags, process_flags
from shared.http import Closer, create_app
from shared.ids import new_id
from shared.inbox import RedeliveryPolicy
from shared.inbox.process import ConsumerProcess, build_consumer_process
from shared.jobs.runner import JobRunner
from shared.outbox import Doorbell, Outbox, OutboxRelay, PgNotifyDoorbell
from shared.outbox.process import build_relay_process
from shared.process import ProcessResources, Worker
from shared.settings import RedisSettings, ServiceSettings

__all__ = [
    "AuthSettings",
    "CacheSettings",
    "CatalogSettings",
    "ConsumerProcess",
    "bootstrap",
    "build_app",
    "build_caches",
    "build_consumer",
    "build_relay",
    "build_use_cases",
    "build_workers",
]

ORDERS_TOPIC = "orders.events"
CONSUMER_GROUP = "catalog"


class CacheSettings(BaseModel):
    """Catalog's read caches (``ORDO_CACHE__*``); what and why: ``catalog.adapters.caching``.

    ``listen`` makes every API instance follow ``catalog.events`` to invalidate what other
    instances (and the saga consumer) changed; without it the in-process layer is only
    coherent for a single instance.
    """

    enabled: bool = True
    key_prefix: str = "ordo:catalog:cache:"
    product_ttl_s: float = Field(default=60.0, gt=0, le=3600)
    product_negative_ttl_s: float = Field(default=5.0, ge=0, le=60)
    stock_ttl_s: float = Field(default=2.0, gt=0, le=60)
    stock_negative_ttl_s: float = Field(default=2.0, ge=0, le=60)
    local_max_entries: int = Field(default=10_000, ge=1)
    jitter: float = Field(default=0.15, ge=0, le=0.5)
    redis_timeout_s: float = Field(default=0.1, gt=0, le=5)
    invalidation_hold_s: float = Field(default=6.0, gt=0, le=60)
    listen: bool = True

    def product_policy(self) -> CachePolicy:
        """The product cache's policy."""
        return self._policy(self.product_ttl_s, self.product_negative_ttl_s)

    def stock_policy(self) -> CachePolicy:
        """The stock-level cache's policy."""
        return self._policy(self.stock_ttl_s, self.stock_negative_ttl_s)

    def _policy(self, ttl_s: float, negative_ttl_s: float) -> CachePolicy:
        return CachePolicy(
            ttl_s=ttl_s,
            negative_ttl_s=negative_ttl_s,
            local_max_entries=self.local_max_entries,
            jitter=self.jitter,
            invalidation_hold_s=self.invalidation_hold_s,
        )


class JobSettings(BaseModel):
    """Catalog's job worker (``ORDO_JOBS__*``), which runs bulk stock imports (shared.jobs)."""

    poll_interval_s: float = Field(default=1.0, gt=0, le=60)
    lease_s: float = Field(default=30.0, gt=1, le=3600)
    heartbeat_interval_s: float = Field(default=5.0, gt=0, le=600)
    import_batch_size: int = Field(default=200, ge=1, le=5000)


class CatalogSettings(ServiceSettings):
    """Catalog settings (database ``ordo_catalog`` by default)."""

    service_name: str = "catalog"
    http_port: int = 8002
    consumer_health_port: int = 8102
    relay_health_port: int = 8202
    worker_health_port: int = 8302
    orders_topic: str = ORDERS_TOPIC
    orders_partitions: int = 6
    consumer_group: str = CONSUMER_GROUP
    events_topic: str = TOPIC
    auth: AuthSettings = AuthSettings()
    cache: CacheSettings = CacheSettings()
    jobs: JobSettings = JobSettings()


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    clock: Clock | None = None,
    new_id: Callable[[], UUID] = new_id,
    cache: CatalogReadCache | None = None,
    source: CatalogReads | None = None,
) -> CatalogUseCases:
    """Wire every use case from its ports (real adapters or fakes); reads uncached by default.

    ``source``: where reads go on a cache miss (and listings always); units of work by default.
    """
    clock = clock or SystemClock()
    reads = cache or UncachedReads()
    source = source if source is not None else UnitOfWorkReads(uow)
    return CatalogUseCases(
        create_product=CreateProduct(uow, clock, new_id),
        update_price=UpdatePrice(uow, clock),
        change_stock=ChangeStock(uow, clock),
        get_product=GetProduct(source, reads),
        get_stock_level=GetStockLevel(source, reads),
        list_products=ListProducts(source),
        list_stock_levels=ListStockLevels(source),
        reserve_for_order=ReserveForOrder(uow, clock, new_id),
        release_reservation=ReleaseReservation(uow, clock),
        commit_reservation=CommitReservation(uow, clock),
    )


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    after_commit: AfterCommit | None = None,
) -> Callable[[], CatalogUnitOfWork]:
    """Units of work over ``sessions`` writing catalog's outbox; ``doorbell`` wakes the relay,
    ``after_commit`` invalidates the caches."""
    outbox = Outbox(outbox_table, source=SOURCE)
    return partial(CatalogUnitOfWork, sessions, outbox, doorbell, after_commit)


def build_use_cases(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    caches: CatalogCaches | None = None,
    *,
    clock: Clock | None = None,
    source: CatalogReads | None = None,
) -> CatalogUseCases:
    """Wire the use cases on the real adapters over ``sessions`` (cached reads with ``caches``;
    ``clock`` is the system's unless a test passes one; ``source``: see :func:`bootstrap`)."""
    after_commit = caches.after_commit if caches is not None else None
    uow = unit_of_work_factory(sessions, doorbell, after_commit)
    return bootstrap(uow=uow, cache=caches, clock=clock, source=source)


def build_caches(
    settings: CacheSettings, redis: RedisSettings, *, local: bool, flags: FeatureFlags | None = None
) -> tuple[CatalogCaches, Redis]:
    """Catalog's caches on a Redis client of their own (closed by the caller); ``local`` False
    closes the in-process layers for good (a process that only invalidates); ``flags`` decide
    per org whether reads use them (``catalog.read-cache``)."""
    client = create_redis(redis, max_connections=20)
    remote = RedisCacheStore(client, prefix=settings.key_prefix, timeout_s=settings.redis_timeout_s)
    gate = LocalCacheGate(open=local and not settings.listen)
    caches = CatalogCaches(
        product=settings.product_policy(),
        stock=settings.stock_policy(),
        remote=remote,
        gate=gate,
        flags=flags,
    )
    return caches, client


def build_app(
    settings: CatalogSettings,
    *,
    keys: KeySource | None = None,
    resources: ProcessResources | None = None,
) -> FastAPI:
    """Wire catalog's HTTP app (contracts/openapi/catalog.yaml).

    Tokens are verified against identity's JWKS (``keys`` replaces it in tests). Writes ring
    the relay's doorbell and invalidate the caches after commit; with ``cache.listen`` the
    instance follows ``catalog.events`` (no consumer group, latest offset) to invalidate what
    other instances changed, and serves nothing in-process until it does.

    ``resources``: the engine and doorbell of the process it shares with other roles (which
    closes them), else its own.
    """
    engine, doorbell, release = _engine_and_doorbell(settings, resources, "")
    if resources is None:
        release.append(engine.dispose)
    caches: CatalogCaches | None = None
    redis: Redis | None = None
    listener: CacheInvalidationListener | None = None
    if settings.cache.enabled:
        flags = process_flags(settings.flags_file)
        caches, redis = build_caches(settings.cache, settings.redis, local=True, flags=flags)
        if settings.cache.listen:
            listener = CacheInvalidationListener(
                topic=settings.events_topic,
                kafka=settings.kafka,
                on_change=caches.on_change,
                gate=caches.gate,
            )
    use_cases = build_use_cases(
        create_session_factory(engine),
        doorbell,
        caches,
        source=SqlaCatalogReads(ReadOnlyDatabase(engine)),
    )
    http = httpx.AsyncClient(timeout=settings.auth.jwks_timeout_s)
    verifier = jwks_verifier(settings.auth, http, keys=keys)
    after_commit = caches.after_commit if caches is not None else None
    imports = stock_import_use_cases(
        unit_of_work_factory(create_session_factory(engine), doorbell, after_commit),
        SystemClock(),
        new_id,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if listener is not None:
            listener.start()
        app.state.cache_listener = listener
        try:
            yield
        finally:
            if listener is not None:
                await listener.stop()
            if redis is not None:
                await redis.aclose()
            await http.aclose()
            for close in release:
                await close()

    app = create_app(
        title="Ordo catalog",
        version=version("ordo-catalog"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        lifespan=lifespan,
        routers=[
            build_router(use_cases, BearerAuth(verifier)),
            build_stock_import_router(imports, BearerAuth(verifier)),
        ],
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    app.add_middleware(RequestMemoMiddleware)
    return app


def build_consumer(
    settings: CatalogSettings,
    *,
    policy: RedeliveryPolicy | None = None,
    resources: ProcessResources | None = None,
) -> ConsumerProcess:
    """Wire the consumer of ``orders.events``: each event's reservation change, the outbox
    rows of catalog's answer and the inbox claim commit in one transaction. ``resources``: as
    in :func:`build_app`."""
    engine, doorbell, closers = _engine_and_doorbell(settings, resources, "-consumer")
    # Reservations change stock: invalidate the shared (Redis) entries after each commit; the
    # API instances' in-process entries go on the events the consumer's outbox rows become.
    caches: CatalogCaches | None = None
    if settings.cache.enabled:
        caches, redis = build_caches(settings.cache, settings.redis, local=False)
        closers.append(redis.aclose)
    after_commit = caches.after_commit if caches is not None else None
    uow = unit_of_work_factory(create_session_factory(engine), doorbell, after_commit)
    return build_consumer_process(
        settings,
        version=version("ordo-catalog"),
        engine=engine,
        unit_of_work=uow,
        group=settings.consumer_group,
        topics={settings.orders_topic: build_handlers(bootstrap(uow=uow))},
        policy=policy,
        closers=closers,
    )


def _engine_and_doorbell(
    settings: CatalogSettings, resources: ProcessResources | None, role: str
) -> tuple[AsyncEngine, Doorbell, list[Closer]]:
    """The process's engine and relay doorbell, or a role's own and its doorbell's closer."""
    if resources is not None:
        return resources.engine, resources.doorbell, []
    engine = create_engine(settings.database, application_name=f"{settings.service_name}{role}")
    doorbell = PgNotifyDoorbell(
        settings.database, outbox_table, application_name=f"catalog{role}-doorbell"
    )
    return engine, doorbell, [doorbell.close]


def build_relay(settings: CatalogSettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``catalog.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-catalog"))


def build_workers(
    settings: CatalogSettings,
    *,
    resources: ProcessResources | None = None,
    clock: Clock | None = None,
) -> list[Worker]:
    """Wire the worker role: the job runner of bulk stock imports (``catalog.import_stock``).

    Imports write stock like the API does: the outbox rings the relay, and each commit
    invalidates the shared (Redis) cache entries it touched. ``resources``: as in
    :func:`build_app`.
    """
    engine, doorbell, closers = _engine_and_doorbell(settings, resources, "-worker")
    if resources is None:
        closers.append(engine.dispose)
    after_commit = None
    if settings.cache.enabled:
        caches, redis = build_caches(settings.cache, settings.redis, local=False)
        closers.append(redis.aclose)
        after_commit = caches.after_commit
    sessions = create_session_factory(engine)
    clock = clock or SystemClock()
    imports = stock_import_use_cases(
        unit_of_work_factory(sessions, doorbell, after_commit),
        clock,
        new_id,
        batch_size=settings.jobs.import_batch_size,
    )
    runner = JobRunner(
        sessions,
        jobs_table,
        {IMPORT_KIND: imports.run},
        clock=clock,
        poll_interval_s=settings.jobs.poll_interval_s,
        lease_s=settings.jobs.lease_s,
        heartbeat_interval_s=settings.jobs.heartbeat_interval_s,
    )

    async def close() -> None:
        for closer in closers:
            await closer()

    return [Worker("catalog-jobs", runner.run, runner.stop, close)]
