"""Composition root of notifications: the only module that reads settings and wires adapters.

- :func:`bootstrap` wires the use cases from ports (unit tests pass fakes, no IO);
- :func:`build_use_cases` wires them on PostgreSQL, the outbox and an HTTP sender;
- :func:`build_app` builds the internal HTTP app (contracts/openapi/notifications.yaml);
- :func:`build_consumer` builds the consumer of ``orders.events`` and ``payments.events``
  (group ``notifications``), which schedules deliveries;
- :func:`build_worker` builds the delivery worker and its health app;
- :func:`build_relay` builds the outbox relay of ``notifications.events``.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from importlib.metadata import version
from typing import Any
from uuid import UUID

import structlog
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notifications.adapters.http.routes import build_router
from notifications.adapters.http.schemas import present_created
from notifications.adapters.messaging.events import SOURCE
from notifications.adapters.messaging.handlers import (
    build_order_handlers,
    build_payment_handlers,
)
from notifications.adapters.persistence.tables import outbox as outbox_table
from notifications.adapters.persistence.unit_of_work import NotificationsUnitOfWork
from notifications.adapters.webhooks.sender import HttpxWebhookSender
from notifications.adapters.worker.dispatcher import DeliveryWorker, WorkerConfig
from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import (
    EndpointPresenter,
    UnitOfWorkFactory,
    WebhookSender,
)
from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.application.use_cases.attempt_delivery import AttemptDelivery
from notifications.application.use_cases.claim_due_deliveries import ClaimDueDeliveries
from notifications.application.use_cases.create_webhook_endpoint import CreateWebhookEndpoint
from notifications.application.use_cases.delete_webhook_endpoint import DeleteWebhookEndpoint
from notifications.application.use_cases.get_webhook_delivery import GetWebhookDelivery
from notifications.application.use_cases.get_webhook_endpoint import GetWebhookEndpoint
from notifications.application.use_cases.list_webhook_deliveries import ListWebhookDeliveries
from notifications.application.use_cases.list_webhook_endpoints import ListWebhookEndpoints
from notifications.application.use_cases.purge_expired_records import PurgeExpiredRecords
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveries
from notifications.settings import (
    AuthSettings,
    DeliverySettings,
    NotificationsSettings,
    WebhookSettings,
)
from shared.auth import KeySource
from shared.clock import Clock, SystemClock
from shared.db import check_postgres, create_engine, create_session_factory
from shared.http import create_app
from shared.http.service import create_service_app
from shared.ids import new_id
from shared.inbox import RedeliveryPolicy
from shared.inbox.process import ConsumerProcess, build_consumer_process
from shared.observability.metrics import Metrics
from shared.outbox import (
    Doorbell,
    Outbox,
    OutboxRelay,
    PgListener,
    PgNotifyDoorbell,
    RelayWakeup,
)
from shared.outbox.process import build_relay_process
from shared.process import ProcessResources

__all__ = [
    "AuthSettings",
    "DeliverySettings",
    "NotificationsSettings",
    "WebhookSettings",
    "WorkerProcess",
    "bootstrap",
    "build_app",
    "build_consumer",
    "build_relay",
    "build_use_cases",
    "build_worker",
]

log = structlog.get_logger(__name__)


def bootstrap(
    *,
    uow: UnitOfWorkFactory,
    sender: WebhookSender,
    clock: Clock | None = None,
    new_id: Callable[[], UUID] = new_id,
    random_bytes: Callable[[int], bytes] = secrets.token_bytes,
    jitter: Callable[[], float] = random.random,
    present: EndpointPresenter = present_created,
    endpoint_rules: EndpointRules | None = None,
    delivery_rules: DeliveryRules | None = None,
) -> NotificationsUseCases:
    """Wire every use case from its ports (real adapters or fakes)."""
    clock = clock or SystemClock()
    endpoint_rules = endpoint_rules or EndpointRules()
    delivery_rules = delivery_rules or DeliveryRules()
    return NotificationsUseCases(
        create_webhook_endpoint=CreateWebhookEndpoint(
            uow, clock, new_id, random_bytes, present, endpoint_rules
        ),
        list_webhook_endpoints=ListWebhookEndpoints(uow),
        get_webhook_endpoint=GetWebhookEndpoint(uow),
        delete_webhook_endpoint=DeleteWebhookEndpoint(uow, clock),
        list_webhook_deliveries=ListWebhookDeliveries(uow),
        get_webhook_delivery=GetWebhookDelivery(uow),
        schedule_deliveries=ScheduleDeliveries(uow, clock, new_id),
        claim_due_deliveries=ClaimDueDeliveries(uow, clock, new_id, delivery_rules),
        attempt_delivery=AttemptDelivery(uow, clock, sender, delivery_rules, jitter),
        purge_expired_records=PurgeExpiredRecords(uow, clock, delivery_rules),
    )


def unit_of_work_factory(
    sessions: async_sessionmaker[AsyncSession],
    doorbell: Doorbell | None = None,
    deliveries_doorbell: Doorbell | None = None,
) -> Callable[[], NotificationsUnitOfWork]:
    """Units of work over ``sessions``: ``doorbell`` wakes the relay, ``deliveries_doorbell``
    the delivery worker."""
    outbox = Outbox(outbox_table, source=SOURCE)
    return partial(NotificationsUnitOfWork, sessions, outbox, doorbell, deliveries_doorbell)


# The channel keeps the name it had when derived from the deliveries table's name, so consumers
# and workers of different releases still hear each other during a rolling deploy.
DELIVERIES_CHANNEL = "ordo_outbox_public_webhook_deliveries"


def deliveries_doorbell(settings: NotificationsSettings, application_name: str) -> PgNotifyDoorbell:
    """The doorbell the consumer rings after scheduling deliveries (the worker LISTENs)."""
    return PgNotifyDoorbell(
        settings.database, channel=DELIVERIES_CHANNEL, application_name=application_name
    )


def deliveries_listener(settings: NotificationsSettings, wakeup: RelayWakeup) -> PgListener:
    """The worker's LISTEN for :func:`deliveries_doorbell`, ringing ``wakeup``; the idle
    connection is probed every 30 s, reconnections back off from 0.4 s to 30 s."""
    return PgListener(
        settings.database,
        DELIVERIES_CHANNEL,
        wakeup.ring,
        application_name="notifications-worker-listen",
        probe_interval_s=30.0,
        timeout_s=5.0,
        backoff_initial_s=0.4,
        backoff_max_s=30.0,
    )


def build_sender(
    settings: NotificationsSettings, metrics: Metrics | None = None
) -> HttpxWebhookSender:
    """The HTTP sender, per the delivery settings."""
    d = settings.delivery
    return HttpxWebhookSender(
        timeout_s=d.timeout_s,
        breaker_fail_max=d.breaker_fail_max,
        breaker_reset_s=d.breaker_reset_s,
        allow_loopback=settings.webhooks.allow_loopback_http,
        max_connections=max(d.concurrency * 2, 8),
        metrics=metrics,
    )


def build_use_cases(
    settings: NotificationsSettings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    sender: WebhookSender,
    doorbell: Doorbell | None = None,
    deliveries_bell: Doorbell | None = None,
) -> NotificationsUseCases:
    """Wire the use cases on the real adapters over ``sessions``."""
    return bootstrap(
        uow=unit_of_work_factory(sessions, doorbell, deliveries_bell),
        sender=sender,
        endpoint_rules=settings.endpoint_rules(),
        delivery_rules=settings.delivery.rules(),
    )


class _NoSender:
    """The API and the consumer never send webhooks; only the worker does."""

    async def send(self, request: Any) -> Any:
        raise RuntimeError("this process does not send webhooks")


def build_app(
    settings: NotificationsSettings,
    *,
    keys: KeySource | None = None,
    resources: ProcessResources | None = None,
) -> FastAPI:
    """Wire notifications' HTTP app (contracts/openapi/notifications.yaml).

    Tokens are verified against identity's JWKS (``keys`` replaces it in tests).
    ``resources``: the engine of the process it shares with other roles, else its own.
    """
    engine = (
        resources.engine
        if resources is not None
        else create_engine(settings.database, application_name=settings.service_name)
    )
    use_cases = build_use_cases(settings, create_session_factory(engine), sender=_NoSender())
    return create_service_app(
        settings,
        title="Ordo notifications",
        version=version("ordo-notifications"),
        auth=settings.auth,
        engine=engine,
        routers=lambda bearer: [build_router(use_cases, bearer)],
        keys=keys,
    )


def build_consumer(
    settings: NotificationsSettings,
    *,
    policy: RedeliveryPolicy | None = None,
    resources: ProcessResources | None = None,
) -> ConsumerProcess:
    """Wire the consumer of ``orders.events`` and ``payments.events``: each event's deliveries
    and its inbox claim commit in one transaction; the worker is rung after the commit.
    ``resources``: the engine of the process it shares with other roles, else its own."""
    engine = (
        resources.engine
        if resources is not None
        else create_engine(settings.database, application_name=f"{settings.service_name}-consumer")
    )
    bell = deliveries_doorbell(settings, "notifications-consumer-doorbell")
    uow = unit_of_work_factory(create_session_factory(engine), None, bell)
    use_cases = bootstrap(
        uow=uow,
        sender=_NoSender(),
        endpoint_rules=settings.endpoint_rules(),
        delivery_rules=settings.delivery.rules(),
    )
    return build_consumer_process(
        settings,
        version=version("ordo-notifications"),
        engine=engine,
        unit_of_work=uow,
        group=settings.consumer_group,
        topics={
            settings.orders_topic: build_order_handlers(use_cases),
            settings.payments_topic: build_payment_handlers(use_cases),
        },
        policy=policy,
        closers=[bell.close],
    )


@dataclass
class WorkerProcess:
    """The delivery worker, its health app (``/health/*``, ``/metrics``) and what it owns.

    :meth:`run` delivers until the worker is stopped, then releases the worker's resources
    (after the attempts in flight ended, not when the health server stops).
    """

    worker: DeliveryWorker
    health: FastAPI
    closers: list[Callable[[], Awaitable[None]]]

    async def run(self) -> None:
        """Run the worker; close what it used once it returned."""
        try:
            await self.worker.run()
        finally:
            for close in self.closers:
                try:
                    await close()
                except Exception as error:  # closing is best effort: report and go on
                    log.warning(
                        "notifications.worker.close_failed", error_type=type(error).__name__
                    )


def build_worker(
    settings: NotificationsSettings,
    *,
    metrics: Metrics | None = None,
    sender: WebhookSender | None = None,
    resources: ProcessResources | None = None,
) -> WorkerProcess:
    """Wire the delivery worker: claims due deliveries, sends them signed, records attempts and
    outcomes (outbox rows, the relay rung), woken by the consumer's doorbell or its own polls.
    ``resources``: the engine and relay doorbell of the process it shares with other roles
    (which closes them), else its own."""
    d = settings.delivery
    closers: list[Callable[[], Awaitable[None]]] = []
    relay_bell: Doorbell
    if resources is not None:
        engine, relay_bell = resources.engine, resources.doorbell
    else:
        engine = create_engine(
            settings.database, application_name=f"{settings.service_name}-worker"
        )
        own = PgNotifyDoorbell(
            settings.database, outbox_table, application_name="notifications-worker-doorbell"
        )
        relay_bell, closers = own, [own.close, engine.dispose]
    if sender is None:
        http_sender = build_sender(settings, metrics)
        closers.insert(0, http_sender.aclose)
        sender = http_sender
    use_cases = build_use_cases(
        settings, create_session_factory(engine), sender=sender, doorbell=relay_bell
    )
    wakeup = RelayWakeup()
    worker = DeliveryWorker(
        claim=use_cases.claim_due_deliveries,
        attempt=use_cases.attempt_delivery,
        listener=deliveries_listener(settings, wakeup),
        config=WorkerConfig(
            concurrency=d.concurrency,
            per_endpoint=d.per_endpoint_concurrency,
            poll_interval_s=d.poll_interval_s,
            stop_timeout_s=d.timeout_s + 5.0,
        ),
        metrics=metrics,
        wakeup=wakeup,
    )
    health = create_app(
        title="Ordo notifications worker",
        version=version("ordo-notifications"),
        settings=settings,
        readiness={"postgres": partial(check_postgres, engine)},
        metrics=metrics,
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return WorkerProcess(worker, health, closers)


def build_relay(settings: NotificationsSettings) -> tuple[OutboxRelay, FastAPI]:
    """Wire the outbox relay of ``notifications.events`` and its small health/metrics app."""
    return build_relay_process(settings, table=outbox_table, version=version("ordo-notifications"))
