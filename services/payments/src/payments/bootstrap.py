"""Composition root of payments: the only module that reads settings and wires adapters.

- :func:`bootstrap` / :func:`bootstrap_worker` wire the use cases from ports (unit tests pass
  fakes, no IO);
- :func:`build_use_cases` / :func:`build_worker_use_cases` wire them on PostgreSQL, the outbox
  and the provider;
- :func:`build_app` builds the internal HTTP app (contracts/openapi/payments.yaml), port 8004;
- :func:`build_consumer` builds the saga consumer of ``orders.events`` (group ``payments``);
- :func:`build_worker` builds the worker that calls the provider, with its health app (8304);
- :func:`build_relay` builds the outbox relay of ``payments.events``.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Collection
from datetime import timedelta
from functools import partial
from importlib.metadata import version

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from payments.adapters.http.routes import build_router
from payments.adapters.messaging.events import SOURCE
from payments.adapters.messaging.handlers import build_handlers
from payments.adapters.persistence.tables import outbox as outbox_table
from payments.adapters.persistence.unit_of_work import PaymentsUnitOfWork
from payments.adapters.persistence.wakeup import worker_doorbell, worker_listener
from payments.adapters.provider.http import BREAKER_NAME, HttpPaymentProvider
from payments.adapters.worker import PaymentWorker
from payments.application.facade import PaymentsUseCases, WorkerUseCases
from payments.application.ports import PaymentProvider, UnitOfWorkFactory
from payments.application.use_cases.authorize_payment import AuthorizePayment
from payments.application.use_cases.cancel_payment import CancelPayment
from payments.application.use_cases.claim_due_payments import ClaimDuePayments
from payments.application.use_cases.get_payment import GetPayment
from payments.application.use_cases.measure_held_authorizations import MeasureHeldAuthorizations
from payments.application.use_cases.request_payment import RequestPayment
from payments.application.use_cases.void_payment import VoidPayment
from payments.domain.schedule import RetrySchedule
from payments.settings import (
    AuthSettings,
    BackoffSettings,
    PaymentsSettings,
    ProviderSettings,
    WorkerSettings,
)
from shared.auth import KeySource
from shared.clock import Clock, SystemClock
from shared.db import check_postgres, create_engine, create_session_factory
from shared.http import Closer, create_app
from shared.http.service import create_service_app
from shared.ids import new_id
from shared.inbox import RedeliveryPolicy
from shared.inbox.process import ConsumerProcess, build_consumer_process
from shared.observability.metrics import Metrics
from shared.outbox import Doorbell, Outbox, OutboxRelay, PgNotifyDoorbell, RelayWakeup
from shared.outbox.process import build_relay_process
from shared.process import ProcessResources
from shared.resilience import AsyncCircuitBreaker, RetryPolicy

__all__ = [
    "AuthSettings",
    "BackoffSettings",
    "PaymentsSettings",
    "ProviderSettings",
    "WorkerSettings",
    "bootstrap",
    "bootstrap_worker",
    "build_app",
    "build_consumer",
    "build_provider",
    "build_relay",
    "build_use_cases",
    "build_worker",
    "build_worker_use_cases",
]

# -- wiring from ports ------------------------------------------------------------------------


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    provider_name: str = ProviderSettings().name,
    clock: Clock | None = None,
    new_id: Callable[[], uuid.UUID] = new_id,
) -> PaymentsUseCases:
    """Wire the API's and the consumer's use cases from their ports (real adapters or fakes)."""
    clock = clock or SystemClock()
    return PaymentsUseCases(
        request_payment=RequestPayment(uow, clock, new_id, provider_name),
        cancel_payment=CancelPayment(uow, clock),
        get_payment=GetPayment(uow),
    )


def bootstrap_worker(
    *,
    uow: UnitOfWorkFactory,
    provider: PaymentProvider,
    schedule: RetrySchedule | None = None,
    lease: timedelta = timedelta(seconds=30),
    clock: Clock | None = None,
    new_id: Callable[[], uuid.UUID] = new_id,
    rand: Callable[[], float] = random.random,
) -> WorkerUseCases:
    """Wire the worker's use cases from their ports (real adapters or fakes)."""
    clock = clock or SystemClock()
    schedule = schedule or RetrySchedule()
    return WorkerUseCases(
        claim_due_payments=ClaimDuePayments(uow, clock, new_id, lease),
        authorize_payment=AuthorizePayment(uow, provider, clock, schedule, rand),
        void_payment=VoidPayment(uow, provider, clock, schedule, rand),
        measure_held_authorizations=MeasureHeldAuthorizations(uow, clock),
    )


# -- wiring on the real adapters --------------------------------------------------------------


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    worker: Doorbell | None = None,
) -> Callable[[], PaymentsUnitOfWork]:
    """Units of work over ``sessions`` writing payments' outbox.

    ``doorbell`` wakes the relay after commits that wrote events; ``worker`` wakes the worker
    after commits that made a payment due.
    """
    outbox = Outbox(outbox_table, source=SOURCE)
    return partial(PaymentsUnitOfWork, sessions, outbox, doorbell, worker)


def build_use_cases(
    sessions: async_sessionmaker[AsyncSession],
    *,
    provider_name: str = ProviderSettings().name,
    doorbell: Doorbell | None = None,
    worker: Doorbell | None = None,
) -> PaymentsUseCases:
    """Wire the API's and the consumer's use cases on PostgreSQL."""
    return bootstrap(
        uow=unit_of_work_factory(sessions, doorbell, worker), provider_name=provider_name
    )


def build_provider(
    settings: ProviderSettings,
    client: httpx.AsyncClient,
    *,
    metrics: Metrics | None = None,
) -> HttpPaymentProvider:
    """The provider adapter over ``client`` (whose base URL is the provider), with its breaker."""
    breaker = AsyncCircuitBreaker(
        BREAKER_NAME,
        fail_max=settings.breaker_fail_max,
        reset_timeout_s=settings.breaker_reset_timeout_s,
        metrics=metrics,
    )
    retry = RetryPolicy(
        attempts=settings.retry_attempts,
        initial_delay_s=settings.retry_initial_delay_s,
        max_delay_s=settings.retry_max_delay_s,
        max_elapsed_s=settings.retry_budget_s,
    )
    return HttpPaymentProvider(
        client,
        name=settings.name,
        breaker=breaker,
        retry=retry,
        call_timeout_s=settings.call_timeout_s,
        card_token=settings.card_token,
    )


def provider_client(settings: ProviderSettings, *, connections: int) -> httpx.AsyncClient:
    """An HTTP client for the provider: its base URL, timeouts and a pool for the worker."""
    return httpx.AsyncClient(
        base_url=settings.base_url,
        timeout=httpx.Timeout(settings.call_timeout_s, connect=settings.connect_timeout_s),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
    )


def build_worker_use_cases(
    settings: PaymentsSettings,
    sessions: async_sessionmaker[AsyncSession],
    provider: PaymentProvider,
    *,
    doorbell: Doorbell | None = None,
    worker: Doorbell | None = None,
) -> WorkerUseCases:
    """Wire the worker's use cases on PostgreSQL and ``provider``."""
    return bootstrap_worker(
        uow=unit_of_work_factory(sessions, doorbell, worker),
        provider=provider,
        schedule=settings.backoff.schedule(),
        lease=timedelta(seconds=settings.worker.lease_s),
    )


def build_app(
    settings: PaymentsSettings,
    *,
    keys: KeySource | None = None,
    resources: ProcessResources | None = None,
) -> FastAPI:
    """Wire payments' HTTP app (contracts/openapi/payments.yaml): reads only.

    Tokens are verified against identity's JWKS (``keys`` replaces it in tests).
    ``resources``: the engine of the process it shares with other roles, else its own.
    """
    engine = (
        resources.engine
        if resources is not None
        else create_engine(settings.database, application_name=settings.service_name)
    )
    use_cases = build_use_cases(
        create_session_factory(engine), provider_name=settings.provider.name
    )
    return create_service_app(
        settings,
        title="Ordo payments",
        version=version("ordo-payments"),
        auth=settings.auth,
        engine=engine,
        routers=lambda bearer: [build_router(use_cases, bearer)],
        keys=keys,
    )


def build_consumer(
    settings: PaymentsSettings,
    *,
    policy: RedeliveryPolicy | None = None,
    resources: ProcessResources | None = None,
) -> ConsumerProcess:
    """Wire the consumer of ``orders.events``: each event's payment change and its inbox claim
    commit in one transaction; the worker is woken (NOTIFY) after the commit. ``resources``:
    the engine and relay doorbell of the process it shares with other roles, else its own."""
    worker_bell = worker_doorbell(settings.database, application_name="payments-consumer-wake")
    closers: list[Closer] = [worker_bell.close]
    relay_bell: Doorbell
    if resources is not None:
        engine, relay_bell = resources.engine, resources.doorbell
    else:
        engine = create_engine(
            settings.database, application_name=f"{settings.service_name}-consumer"
        )
        own = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="payments-consumer-doorbell"
        )
        relay_bell, closers = own, [own.close, *closers]
    uow = unit_of_work_factory(create_session_factory(engine), relay_bell, worker_bell)
    use_cases = bootstrap(uow=uow, provider_name=settings.provider.name)
    return build_consumer_process(
        settings,
        version=version("ordo-payments"),
        engine=engine,
        unit_of_work=uow,
        group=settings.consumer_group,
        topics={settings.orders_topic: build_handlers(use_cases)},
        policy=policy,
        closers=closers,
    )


def build_worker(
    settings: PaymentsSettings,
    *,
    metrics: Metrics | None = None,
    resources: ProcessResources | None = None,
) -> tuple[PaymentWorker, FastAPI]:
    """Wire the payment worker (LISTEN + polling, provider behind its breaker) and its health app.

    Readiness checks PostgreSQL only: while the provider is down the worker is doing its job
    (postponing payments), not failing. ``resources``: the engine and relay doorbell of the
    process it shares with other roles (which closes them), else its own.
    """
    release: list[Closer] = []
    relay_bell: Doorbell
    if resources is not None:
        engine, relay_bell = resources.engine, resources.doorbell
    else:
        engine = create_engine(
            settings.database.model_copy(
                update={"pool_size": min(settings.worker.concurrency, 20), "max_overflow": 10}
            ),
            application_name=f"{settings.service_name}-worker",
        )
        own = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="payments-worker-doorbell"
        )
        relay_bell, release = own, [own.close, engine.dispose]
    client = provider_client(settings.provider, connections=settings.worker.concurrency)
    provider = build_provider(settings.provider, client, metrics=metrics)
    wakeup = RelayWakeup()
    use_cases = build_worker_use_cases(
        settings,
        create_session_factory(engine),
        provider,
        doorbell=relay_bell,
        worker=_LocalRing(wakeup),
    )
    listener = worker_listener(settings.database, wakeup)

    async def close() -> None:
        # After the last payment in flight has recorded its outcome (not in the health app's
        # lifespan, which ends first on SIGTERM).
        await client.aclose()
        for close in release:
            await close()

    worker = PaymentWorker(
        use_cases,
        wakeup=wakeup,
        concurrency=settings.worker.concurrency,
        poll_interval_s=settings.worker.poll_interval_s,
        listener=listener,
        metrics=metrics,
        on_close=close,
        measure_interval_s=settings.worker.measure_interval_s,
    )
    health = create_app(
        title="Ordo payments worker",
        version=version("ordo-payments"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        metrics=metrics,
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return worker, health


class _LocalRing:
    """A doorbell for the worker's own commits: rings its in-process wake-up directly."""

    def __init__(self, wakeup: RelayWakeup) -> None:
        self._wakeup = wakeup

    def ring(self, lanes: Collection[int] | None = None) -> None:
        """Wake the worker's loop (whatever the outbox lanes: it reads payments, not rows)."""
        self._wakeup.ring()


def build_relay(settings: PaymentsSettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``payments.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-payments"))
