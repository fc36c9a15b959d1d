"""Notifications against the real PostgreSQL (one migrated database per xdist worker) and Kafka."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from notifications.application.facade import NotificationsUseCases
from notifications.application.rules import EndpointRules
from notifications.application.use_cases.create_webhook_endpoint import (
    CreateWebhookEndpointInput,
)
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveriesInput
from notifications.bootstrap import (
    DeliverySettings,
    NotificationsSettings,
    WorkerProcess,
    bootstrap,
    build_worker,
    unit_of_work_factory,
)
from notifications.domain.values import WebhookEventType
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.migrations import Alembic
from shared.testing.plugin import temporary_database

from .receiver import Receiver, serve

SERVICE = Path(__file__).resolve().parents[2]
ALEMBIC = Alembic(SERVICE)
REPO = SERVICE.parents[1]


def principal_of(org_id: uuid.UUID, role: Role = Role.ADMIN) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


async def outbox_rows(engine: AsyncEngine, key: uuid.UUID) -> list[tuple[str, Any, Any]]:
    """``(ce_type, payload, headers)`` of the outbox rows keyed by ``key``, in commit order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT headers->>'ce_type', payload, headers FROM outbox"
                " WHERE key = :k ORDER BY seq"
            ),
            {"k": str(key)},
        )
        return [(row[0], row[1], row[2]) for row in rows]


@pytest.fixture(scope="session")
async def notifications_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of notifications' own for this xdist worker (its Alembic history has its own
    ``0001``, which would collide with another service's in a shared database)."""
    async with temporary_database(ordo_endpoints, "ordo_notifications_test") as database:
        yield database


@pytest.fixture(scope="session")
async def migrated(notifications_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's notifications database at notifications' head revision."""
    await ALEMBIC.upgrade_head(notifications_database)
    return notifications_database


@pytest.fixture(scope="session")
async def engine(migrated: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database."""
    engine = create_engine(
        migrated.model_copy(update={"pool_size": 10, "max_overflow": 20}),
        application_name="notifications-tests",
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated database."""
    return create_session_factory(engine)


class _Unused:
    async def send(self, request: Any) -> Any:
        raise AssertionError("these use cases do not send")


@pytest.fixture(scope="session")
def notifications(sessions: async_sessionmaker[AsyncSession]) -> NotificationsUseCases:
    """The use cases on PostgreSQL (loopback URLs allowed, as in tests and local runs)."""
    return bootstrap(
        uow=unit_of_work_factory(sessions),
        sender=_Unused(),
        endpoint_rules=EndpointRules(allow_loopback_http=True),
    )


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    """The local broker."""
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)


def settings_for(database: DatabaseSettings, **overrides: Any) -> NotificationsSettings:
    """Notifications settings on the test database (environment ``test``: loopback allowed)."""
    return NotificationsSettings(environment="test", database=database, **overrides)


@pytest.fixture
async def receiver(standard_webhooks: Any) -> AsyncIterator[Receiver]:
    """A webhook receiver on a free loopback port (verifies signatures with the test verifier)."""
    async with serve(Receiver(standard_webhooks)) as running:
        yield running


@contextlib.asynccontextmanager
async def running_worker(
    settings: NotificationsSettings, *, metrics: Metrics | None = None
) -> AsyncIterator[WorkerProcess]:
    """The real delivery worker (``build_worker``) running until the block ends."""
    process = build_worker(settings, metrics=metrics or Metrics(CollectorRegistry()))
    task = asyncio.create_task(process.run())
    try:
        yield process
    finally:
        process.worker.stop()
        await asyncio.wait_for(task, 30)


def fast_delivery(**overrides: Any) -> DeliverySettings:
    """A compressed delivery schedule for tests (timeouts and waits in fractions of seconds)."""
    values: dict[str, Any] = {
        "timeout_s": 1.0,
        "retry_schedule_s": [0.4, 0.8],
        "jitter": 0.2,
        "lease_s": 5.0,
        "concurrency": 8,
        "per_endpoint_concurrency": 4,
        "poll_interval_s": 0.5,
        "breaker_fail_max": 5,
        "breaker_reset_s": 60.0,
        "purge_interval_s": 0,
    }
    values.update(overrides)
    return DeliverySettings(**values)


async def create_endpoint(
    use_cases: NotificationsUseCases,
    org_id: uuid.UUID,
    url: str,
    event_types: list[str] | None = None,
) -> tuple[uuid.UUID, str]:
    """Register an endpoint (as an admin); return its id and secret."""
    created = await use_cases.create_webhook_endpoint(
        principal_of(org_id),
        CreateWebhookEndpointInput(org_id, url, event_types or ["order.placed"]),
        idempotency_key=uuid.uuid4().hex,
        fingerprint=uuid.uuid4().hex,
    )
    body = created.response.body
    return uuid.UUID(str(body["id"])), str(body["secret"])


def order_placed(org_id: uuid.UUID, order_id: uuid.UUID | None = None) -> dict[str, Any]:
    """An order.placed v1 payload (contracts/asyncapi/orders.yaml)."""
    return {
        "order_id": str(order_id or uuid.uuid4()),
        "org_id": str(org_id),
        "order_version": 1,
        "placed_by": str(uuid.uuid4()),
        "currency": "EUR",
        "lines": [{"sku": "WIDGET-42", "quantity": 2}],
        "placed_at": "2026-11-26T12:00:00Z",
    }


async def schedule_placed(
    use_cases: NotificationsUseCases, org_id: uuid.UUID, count: int = 1
) -> list[uuid.UUID]:
    """Schedule ``count`` order.placed events of the org directly (no Kafka); their ids."""
    ids = []
    for _ in range(count):
        event_id = uuid.uuid4()
        await use_cases.schedule_deliveries(
            ScheduleDeliveriesInput(
                org_id=org_id,
                event_id=event_id,
                event_type=WebhookEventType.ORDER_PLACED,
                occurred_at=datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
                data=order_placed(org_id),
            )
        )
        ids.append(event_id)
    return ids


async def deliveries_of(engine: AsyncEngine, endpoint_id: uuid.UUID) -> list[dict[str, Any]]:
    """The endpoint's delivery rows with their attempts (oldest first)."""
    async with engine.connect() as conn:
        rows = (
            (
                await conn.execute(
                    text("SELECT * FROM webhook_deliveries WHERE endpoint_id = :e ORDER BY id"),
                    {"e": endpoint_id},
                )
            )
            .mappings()
            .all()
        )
        found = []
        for row in rows:
            attempts = (
                (
                    await conn.execute(
                        text(
                            "SELECT * FROM webhook_delivery_attempts WHERE delivery_id = :d"
                            " ORDER BY number"
                        ),
                        {"d": row["id"]},
                    )
                )
                .mappings()
                .all()
            )
            found.append(dict(row) | {"attempts": [dict(a) for a in attempts]})
        return found


@pytest.fixture
async def quiet_deliveries(engine: AsyncEngine) -> AsyncIterator[None]:
    """End every open delivery after the test, so the next test's worker finds none of them."""
    yield
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE webhook_deliveries SET status = 'failed', next_attempt_at = NULL,"
                " lease_token = NULL WHERE status IN ('pending', 'retrying')"
            )
        )
