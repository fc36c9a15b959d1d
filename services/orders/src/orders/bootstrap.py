"""Composition root of orders: the only module that reads settings and wires adapters.

- :func:`bootstrap` wires the use cases from ports (unit tests pass fakes, no IO);
- :func:`build_use_cases` wires them on PostgreSQL, the outbox and the idempotency records;
- :func:`build_app` builds the internal HTTP app (contracts/openapi/orders.yaml);
- :func:`build_consumer` builds the saga consumer of ``catalog.events`` and ``payments.events``
  (group ``orders``, two idempotent consumers on one broker);
- :func:`build_relay` builds the outbox relay of ``orders.events``;
- :func:`build_worker` builds the deadline sweeper.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from importlib.metadata import version
from uuid import UUID

from fastapi import FastAPI
from pydantic import Field
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orders.adapters.admission import SagaAdmission
from orders.adapters.http.place_order import PlaceOrderHttp
from orders.adapters.http.routes import build_router
from orders.adapters.http.schemas import present
from orders.adapters.messaging.events import SOURCE
from orders.adapters.messaging.events import TOPIC as ORDERS_TOPIC
from orders.adapters.messaging.handlers import build_catalog_handlers, build_payment_handlers
from orders.adapters.persistence.reads import SqlaOrderReads
from orders.adapters.persistence.saga_load import SqlaSagaLoadProbe
from orders.adapters.persistence.tables import outbox as outbox_table
from orders.adapters.persistence.unit_of_work import OrdersUnitOfWork
from orders.adapters.saga_path import FirstBlocked, KafkaSagaPath, SqlaOutboxStall
from orders.adapters.worker import SagaWorker
from orders.application.admission import ALWAYS_ADMIT, Admission, AdmissionPolicy
from orders.application.facade import OrdersUseCases
from orders.application.ports import OrderPresenter, OrderReads, UnitOfWorkFactory
from orders.application.reads import UnitOfWorkReads
from orders.application.saga_path import OPEN_PATH, PathGuard, SagaPathGuard
from orders.application.use_cases.cancel_order import CancelOrder
from orders.application.use_cases.get_order import GetOrder
from orders.application.use_cases.list_orders import ListOrders
from orders.application.use_cases.on_payment_authorization_deferred import (
    OnPaymentAuthorizationDeferred,
)
from orders.application.use_cases.on_payment_authorized import OnPaymentAuthorized
from orders.application.use_cases.on_payment_failed import OnPaymentFailed
from orders.application.use_cases.on_stock_rejected import OnStockRejected
from orders.application.use_cases.on_stock_released import OnStockReleased
from orders.application.use_cases.on_stock_reserved import OnStockReserved
from orders.application.use_cases.place_order import PlaceOrder
from orders.application.use_cases.sweep_deadlines import SweepDeadlines
from orders.domain.values import Deadlines
from shared.auth import AuthSettings, KeySource
from shared.clock import Clock, SystemClock
from shared.db import ReadOnlyDatabase, check_postgres, create_engine, create_session_factory
from shared.flags import process_flags
from shared.http import Closer, create_app
from shared.http.service import create_service_app
from shared.ids import new_id
from shared.inbox import RedeliveryPolicy
from shared.inbox.process import ConsumerProcess, build_consumer_process
from shared.outbox import Doorbell, Outbox, OutboxRelay, PgNotifyDoorbell
from shared.outbox.process import build_relay_process
from shared.process import ProcessResources
from shared.settings import ServiceSettings

__all__ = [
    "AuthSettings",
    "OrdersSettings",
    "WorkerProcess",
    "bootstrap",
    "build_admission",
    "build_app",
    "build_consumer",
    "build_relay",
    "build_use_cases",
    "build_worker",
    "unit_of_work_factory",
]

CATALOG_TOPIC = "catalog.events"
PAYMENTS_TOPIC = "payments.events"
CONSUMER_GROUP = "orders"
DEFAULT_DEADLINES = Deadlines(
    stock=timedelta(seconds=30),
    payment=timedelta(seconds=60),
    payment_max_wait=timedelta(seconds=600),
    compensation_retry=timedelta(seconds=60),
)


class OrdersSettings(ServiceSettings):
    """Orders settings (database ``ordo_orders`` by default).

    Saga deadlines: ``stock_timeout_s`` (placed -> stock answered), ``payment_timeout_s``
    (payment requested -> answered; each deferral moves it past payments' next attempt, never
    beyond ``payment_max_wait_s`` after the request), ``compensation_retry_s`` (cancelling ->
    stock released, then the request is sent again). The worker sweeps every
    ``sweep_interval_s``.

    Outages delay, they do not cancel (docs/runbooks/saga-deadlines.md): with
    ``saga_path_guard``, the sweeper holds passed stock and payment deadlines while Kafka does
    not answer the worker within ``saga_path_probe_timeout_s``, orders' relay leaves rows
    unpublished over ``saga_path_outbox_max_age_s``, or a consumer group on the saga's path
    keeps records waiting without moving for ``saga_path_stall_s``; and for
    ``saga_path_recovery_s`` after. Held, a stock step ends ``stock_max_wait_s`` after the
    order was placed, a payment step ``payment_max_wait_s`` after it was requested.

    Saga backpressure (orders-api): while ``backpressure_enabled``, ``POST /orders`` is refused
    with 503 and ``Retry-After: backpressure_retry_after_s`` once the orders waiting for their
    stock step have waited over ``backpressure_max_saga_lag_s`` or orders' unpublished outbox
    rows over ``backpressure_max_outbox_age_s`` (each: the ``backpressure_quorum``-th oldest),
    and taken again once both are below ``backpressure_resume_ratio`` of their maximum. The
    backlog is measured every ``backpressure_interval_s`` while orders arrive.
    """

    service_name: str = "orders"
    http_port: int = 8003
    consumer_health_port: int = 8103
    relay_health_port: int = 8203
    worker_health_port: int = 8303
    catalog_topic: str = CATALOG_TOPIC
    payments_topic: str = PAYMENTS_TOPIC
    topic_partitions: int = Field(default=6, ge=1)
    consumer_group: str = CONSUMER_GROUP
    consumer_max_workers: int = Field(default=2, ge=1, le=32)
    auth: AuthSettings = AuthSettings()
    stock_timeout_s: float = Field(default=30.0, gt=0)
    payment_timeout_s: float = Field(default=60.0, gt=0)
    payment_max_wait_s: float = Field(default=600.0, gt=0)
    compensation_retry_s: float = Field(default=60.0, gt=0)
    stock_max_wait_s: float = Field(default=600.0, gt=0)
    saga_path_guard: bool = True
    saga_path_recovery_s: float = Field(default=30.0, ge=0)
    saga_path_stall_s: float = Field(default=10.0, gt=0)
    saga_path_outbox_max_age_s: float = Field(default=5.0, gt=0)
    saga_path_probe_timeout_s: float = Field(default=3.0, gt=0)
    sweep_interval_s: float = Field(default=1.0, gt=0)
    sweep_batch_size: int = Field(default=100, ge=1, le=10_000)
    idempotency_ttl_s: float = Field(default=86_400.0, gt=0)
    backpressure_enabled: bool = True
    backpressure_max_saga_lag_s: float = Field(default=0.5, gt=0)
    backpressure_max_outbox_age_s: float = Field(default=0.5, gt=0)
    backpressure_resume_ratio: float = Field(default=0.5, gt=0, le=1)
    backpressure_retry_after_s: float = Field(default=1.0, gt=0)
    backpressure_quorum: int = Field(default=3, ge=1, le=1000)
    backpressure_interval_s: float = Field(default=0.25, gt=0)

    def deadlines(self) -> Deadlines:
        """The saga's deadlines as the domain takes them."""
        return Deadlines(
            stock=timedelta(seconds=self.stock_timeout_s),
            payment=timedelta(seconds=self.payment_timeout_s),
            payment_max_wait=timedelta(seconds=self.payment_max_wait_s),
            compensation_retry=timedelta(seconds=self.compensation_retry_s),
            stock_max_wait=timedelta(seconds=self.stock_max_wait_s),
        )

    def admission_policy(self) -> AdmissionPolicy:
        """The saga backpressure policy of ``POST /orders``."""
        return AdmissionPolicy(
            enabled=self.backpressure_enabled,
            max_saga_lag_s=self.backpressure_max_saga_lag_s,
            max_outbox_age_s=self.backpressure_max_outbox_age_s,
            resume_ratio=self.backpressure_resume_ratio,
            retry_after_s=self.backpressure_retry_after_s,
        )


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    clock: Clock | None = None,
    new_id: Callable[[], UUID] = new_id,
    deadlines: Deadlines = DEFAULT_DEADLINES,
    presenter: OrderPresenter = present,
    reads: OrderReads | None = None,
    admission: Admission = ALWAYS_ADMIT,
    saga_path: PathGuard = OPEN_PATH,
) -> OrdersUseCases:
    """Wire every use case from its ports (real adapters or fakes).

    ``reads`` defaults to reading through units of work; ``admission`` to taking every order;
    ``saga_path`` (what holds the sweeper during outages) to never holding.
    """
    clock = clock or SystemClock()
    reads = reads if reads is not None else UnitOfWorkReads(uow)
    return OrdersUseCases(
        place_order=PlaceOrder(
            uow, clock, new_id, deadlines, PlaceOrderHttp(presenter), admission=admission
        ),
        get_order=GetOrder(reads),
        list_orders=ListOrders(reads),
        cancel_order=CancelOrder(uow, clock, deadlines),
        on_stock_reserved=OnStockReserved(uow, clock, deadlines),
        on_stock_rejected=OnStockRejected(uow, clock, deadlines),
        on_stock_released=OnStockReleased(uow, clock, deadlines),
        on_payment_authorized=OnPaymentAuthorized(uow, clock, deadlines),
        on_payment_failed=OnPaymentFailed(uow, clock, deadlines),
        on_payment_authorization_deferred=OnPaymentAuthorizationDeferred(uow, clock, deadlines),
        sweep_deadlines=SweepDeadlines(uow, clock, deadlines, saga_path),
    )


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    *,
    idempotency_ttl: timedelta = timedelta(hours=24),
    clock: Clock | None = None,
) -> Callable[[], OrdersUnitOfWork]:
    """Units of work over ``sessions`` writing orders' outbox; ``doorbell`` wakes the relay."""
    outbox = Outbox(outbox_table, source=SOURCE)
    return partial(
        OrdersUnitOfWork, sessions, outbox, doorbell, idempotency_ttl=idempotency_ttl, clock=clock
    )


def build_use_cases(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    *,
    deadlines: Deadlines = DEFAULT_DEADLINES,
    clock: Clock | None = None,
    idempotency_ttl: timedelta = timedelta(hours=24),
    reads: OrderReads | None = None,
    admission: Admission = ALWAYS_ADMIT,
    saga_path: PathGuard = OPEN_PATH,
) -> OrdersUseCases:
    """Wire the use cases on the real adapters over ``sessions``."""
    uow = unit_of_work_factory(sessions, doorbell, idempotency_ttl=idempotency_ttl, clock=clock)
    return bootstrap(
        uow=uow,
        clock=clock,
        deadlines=deadlines,
        reads=reads,
        admission=admission,
        saga_path=saga_path,
    )


def _use_cases(
    settings: OrdersSettings,
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell,
    *,
    reads: OrderReads | None = None,
    admission: Admission = ALWAYS_ADMIT,
    saga_path: PathGuard = OPEN_PATH,
) -> OrdersUseCases:
    return build_use_cases(
        sessions,
        doorbell,
        deadlines=settings.deadlines(),
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_s),
        reads=reads,
        admission=admission,
        saga_path=saga_path,
    )


def build_admission(settings: OrdersSettings, db: ReadOnlyDatabase) -> SagaAdmission:
    """Saga backpressure for ``POST /orders``, measured on orders' database."""
    return SagaAdmission(
        SqlaSagaLoadProbe(db, quorum=settings.backpressure_quorum),
        settings.admission_policy(),
        interval_s=settings.backpressure_interval_s,
        flags=process_flags(settings.flags_file),
    )


def build_app(
    settings: OrdersSettings,
    *,
    keys: KeySource | None = None,
    resources: ProcessResources | None = None,
) -> FastAPI:
    """Wire orders' HTTP app (contracts/openapi/orders.yaml).

    Tokens are verified against identity's JWKS (``keys`` replaces it in tests). Writes ring
    the relay's doorbell after commit. ``resources``: the engine and doorbell of the process
    it shares with other roles (which closes them), else its own. Reads run one statement
    each outside any transaction; new orders pass the saga backpressure first.
    """
    closers: list[Closer] = []
    doorbell: Doorbell
    if resources is not None:
        engine, doorbell = resources.engine, resources.doorbell
    else:
        engine = create_engine(settings.database, application_name=settings.service_name)
        own = PgNotifyDoorbell(settings.database, outbox_table, application_name="orders-doorbell")
        doorbell, closers = own, [own.close]
    db = ReadOnlyDatabase(engine)
    admission = build_admission(settings, db)
    use_cases = _use_cases(
        settings,
        create_session_factory(engine),
        doorbell,
        reads=SqlaOrderReads(db),
        admission=admission,
    )
    return create_service_app(
        settings,
        title="Ordo orders",
        version=version("ordo-orders"),
        auth=settings.auth,
        engine=engine,
        routers=lambda bearer: [build_router(use_cases, bearer)],
        keys=keys,
        closers=[admission.close, *closers],
    )


def build_consumer(
    settings: OrdersSettings,
    *,
    policy: RedeliveryPolicy | None = None,
    resources: ProcessResources | None = None,
) -> ConsumerProcess:
    """Wire the saga consumer: catalog's and payments' replies, group ``orders``, one broker.

    Each reply's order change, the outbox rows of its events and the inbox claim commit in one
    transaction; the doorbell wakes the relay after it. ``resources``: as in :func:`build_app`.
    """
    closers: list[Closer] = []
    doorbell: Doorbell
    if resources is not None:
        engine, doorbell = resources.engine, resources.doorbell
    else:
        engine = create_engine(
            settings.database, application_name=f"{settings.service_name}-consumer"
        )
        own = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="orders-consumer-doorbell"
        )
        doorbell, closers = own, [own.close]
    uow = unit_of_work_factory(
        create_session_factory(engine),
        doorbell,
        idempotency_ttl=timedelta(seconds=settings.idempotency_ttl_s),
    )
    use_cases = bootstrap(uow=uow, deadlines=settings.deadlines())
    return build_consumer_process(
        settings,
        version=version("ordo-orders"),
        engine=engine,
        unit_of_work=uow,
        group=settings.consumer_group,
        topics={
            settings.catalog_topic: build_catalog_handlers(use_cases),
            settings.payments_topic: build_payment_handlers(use_cases),
        },
        policy=policy,
        max_workers=settings.consumer_max_workers,
        closers=closers,
    )


def build_relay(settings: OrdersSettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``orders.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-orders"))


def build_saga_path(
    settings: OrdersSettings, engine: AsyncEngine
) -> tuple[PathGuard, list[Closer]]:
    """What holds the sweeper while the saga's path is down, and what to close after it.

    The path: orders' relay (its outbox), then Kafka, catalog's and payments' groups on
    ``orders.events``, and orders' own group on their replies.
    """
    if not settings.saga_path_guard:
        return OPEN_PATH, []
    lanes = [
        ("catalog", ORDERS_TOPIC),
        ("payments", ORDERS_TOPIC),
        (settings.consumer_group, settings.catalog_topic),
        (settings.consumer_group, settings.payments_topic),
    ]
    kafka = KafkaSagaPath(
        settings.kafka,
        lanes,
        timeout_s=settings.saga_path_probe_timeout_s,
        stall_s=settings.saga_path_stall_s,
        interval_s=settings.sweep_interval_s,
    )
    outbox = SqlaOutboxStall(engine, max_age_s=settings.saga_path_outbox_max_age_s)
    guard = SagaPathGuard(
        FirstBlocked([kafka, outbox]), recovery=timedelta(seconds=settings.saga_path_recovery_s)
    )
    return guard, [kafka.close]


@dataclass
class WorkerProcess:
    """The saga worker, its health app, and what to close once the worker ended.

    ``engine`` and ``doorbell`` are None when they belong to the process (shared with its other
    roles), which closes them itself.
    """

    worker: SagaWorker
    health: FastAPI
    engine: AsyncEngine | None
    doorbell: PgNotifyDoorbell | None

    async def close(self) -> None:
        """Close the doorbell's connection and the engine's pool, if they are the worker's."""
        if self.doorbell is not None:
            await self.doorbell.close()
        if self.engine is not None:
            await self.engine.dispose()


def build_worker(
    settings: OrdersSettings, *, resources: ProcessResources | None = None
) -> WorkerProcess:
    """Wire the saga worker (the deadline sweeper) and its health app.

    ``resources``: as in :func:`build_app`.
    """
    if resources is not None:
        engine: AsyncEngine = resources.engine
        doorbell: Doorbell = resources.doorbell
        own_engine, own_doorbell = None, None
    else:
        engine = own_engine = create_engine(
            settings.database.model_copy(update={"pool_size": 2, "max_overflow": 2}),
            application_name=f"{settings.service_name}-worker",
        )
        doorbell = own_doorbell = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="orders-worker-doorbell"
        )
    guard, closers = build_saga_path(settings, engine)
    use_cases = _use_cases(settings, create_session_factory(engine), doorbell, saga_path=guard)
    worker = SagaWorker(
        use_cases,
        sweep_interval_s=settings.sweep_interval_s,
        batch_size=settings.sweep_batch_size,
        closers=closers,
    )
    health = create_app(
        title="Ordo orders worker",
        version=version("ordo-orders"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return WorkerProcess(worker, health, own_engine, own_doorbell)
