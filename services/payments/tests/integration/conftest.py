"""Payments against the real PostgreSQL (one migrated database per xdist worker), Kafka, and the
REAL fake payment provider served over HTTP by uvicorn on a free port, one per test."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator, Generator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payment_provider import ProviderConfig, create_app
from payments.adapters.provider.http import HttpPaymentProvider
from payments.adapters.worker import PaymentWorker
from payments.application.facade import PaymentsUseCases
from payments.bootstrap import (
    BackoffSettings,
    PaymentsSettings,
    ProviderSettings,
    WorkerSettings,
    build_provider,
    build_use_cases,
    build_worker,
    provider_client,
)
from shared.auth.principal import Principal, Role
from shared.db import create_engine, create_session_factory
from shared.inbox.testing import wait_until
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.migrations import Alembic
from shared.testing.plugin import temporary_database

SERVICE = Path(__file__).resolve().parents[2]
ALEMBIC = Alembic(SERVICE)
_OUTBOX_BY_KEY = """
    SELECT headers->>'ce_type', payload, headers FROM outbox WHERE key = :k ORDER BY seq
"""


def principal_of(org_id: uuid.UUID, role: Role = Role.MEMBER) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


async def outbox_rows(engine: AsyncEngine, order_id: uuid.UUID) -> list[tuple[str, Any, Any]]:
    """(ce_type, payload, headers) of the outbox rows keyed by ``order_id``, in commit order."""
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(_OUTBOX_BY_KEY),
            {"k": str(order_id)},
        )
        return [(row[0], row[1], row[2]) for row in rows]


async def outbox_types(engine: AsyncEngine, order_id: uuid.UUID) -> list[str]:
    """The ce_types of the outbox rows keyed by ``order_id``, in commit order."""
    return [kind for kind, _, _ in await outbox_rows(engine, order_id)]


@pytest.fixture(scope="session")
async def payments_database(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A database of payments' own for this xdist worker (its Alembic history has its own 0001)."""
    async with temporary_database(ordo_endpoints, "ordo_payments_test") as database:
        yield database


@pytest.fixture(scope="session")
async def migrated(payments_database: DatabaseSettings) -> DatabaseSettings:
    """The worker's payments database at payments' head revision."""
    await ALEMBIC.upgrade_head(payments_database)
    return payments_database


@pytest.fixture(scope="session")
async def engine(migrated: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    """An engine on the migrated database, with room for the concurrency tests."""
    engine = create_engine(
        migrated.model_copy(update={"pool_size": 20, "max_overflow": 40}),
        application_name="payments-tests",
    )
    yield engine
    await engine.dispose()


@pytest.fixture(scope="session")
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions on the migrated database."""
    return create_session_factory(engine)


@pytest.fixture(scope="session")
def payments(sessions: async_sessionmaker[AsyncSession]) -> PaymentsUseCases:
    """The API's and the consumer's use cases on PostgreSQL (no doorbells: no relay here)."""
    return build_use_cases(sessions)


@pytest.fixture(autouse=True)
async def empty_queue(request: pytest.FixtureRequest) -> None:
    """Park the work earlier tests left behind, so this test's workers see only its own."""
    if "engine" not in request.fixturenames:
        return
    engine: AsyncEngine = request.getfixturevalue("engine")
    async with engine.begin() as conn:
        await conn.execute(text("UPDATE payments SET next_attempt_at = NULL"))


# -- the fake provider, served for real ---------------------------------------------------------


class _Server(uvicorn.Server):
    """uvicorn without its signal handlers: the test process keeps its own."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class Provider:
    """A running fake provider: its URL and an admin client."""

    url: str
    admin: httpx.AsyncClient

    async def behave(self, **behaviour: float) -> None:
        """Replace latency and error rates (omitted ones become 0)."""
        (await self.admin.put("/admin/behaviour", json=behaviour)).raise_for_status()

    async def outage(self, duration_s: float, mode: str = "503", start_in_s: float = 0) -> None:
        """Start (or schedule) an outage window."""
        body = {"duration_s": duration_s, "mode": mode, "start_in_s": start_in_s}
        (await self.admin.post("/admin/outages", json=body)).raise_for_status()

    async def end_outages(self) -> None:
        """End every outage now."""
        (await self.admin.delete("/admin/outages")).raise_for_status()

    async def stats(self) -> dict[str, Any]:
        """Outcome counts, authorizations and keys held."""
        response = await self.admin.get("/admin/stats")
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    async def authorizations(self, reference: str) -> list[dict[str, Any]]:
        """The authorisations held under ``reference`` (the order id)."""
        response = await self.admin.get("/v1/authorizations", params={"reference": reference})
        response.raise_for_status()
        items: list[dict[str, Any]] = response.json()["items"]
        return items


@contextlib.asynccontextmanager
async def serve_provider(config: ProviderConfig | None = None) -> AsyncIterator[Provider]:
    """Serve ``payment_provider.create_app(config)`` under uvicorn on a free loopback port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(config or ProviderConfig(port=port, log_level="warning"))
    server = _Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off", log_config=None)
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        async with httpx.AsyncClient(base_url=url, timeout=10) as admin:
            yield Provider(url, admin)
    finally:
        server.should_exit = True
        server.force_exit = True  # calls hanging in an outage would hold the shutdown
        with contextlib.suppress(Exception):
            async with asyncio.timeout(10):
                await task
        sock.close()


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    """A fresh, well-behaved fake provider for this test."""
    async with serve_provider() as served:
        yield served


# -- settings compressed for tests --------------------------------------------------------------


def fast_provider_settings(url: str, **overrides: Any) -> ProviderSettings:
    """Provider settings with short deadlines, retries and breaker cool-down."""
    values: dict[str, Any] = {
        "base_url": url,
        "call_timeout_s": 0.3,
        "connect_timeout_s": 0.3,
        "retry_attempts": 3,
        "retry_initial_delay_s": 0.01,
        "retry_max_delay_s": 0.05,
        "retry_budget_s": 0.5,
        "breaker_fail_max": 3,
        "breaker_reset_timeout_s": 0.5,
    }
    return ProviderSettings(**(values | overrides))


def fast_settings(
    database: DatabaseSettings, provider_url: str, **provider: Any
) -> PaymentsSettings:
    """Payments settings for tests: the given database and provider, everything fast."""
    return PaymentsSettings(
        environment="test",
        database=database,
        provider=fast_provider_settings(provider_url, **provider),
        backoff=BackoffSettings(initial_delay_s=0.05, multiplier=2, max_delay_s=0.2, jitter=0.5),
        worker=WorkerSettings(concurrency=16, poll_interval_s=0.2, lease_s=3.0),
    )


@pytest.fixture
def metrics() -> Metrics:
    """A private registry: this test's breaker gauge and job counters."""
    return Metrics(CollectorRegistry())


@contextlib.asynccontextmanager
async def provider_adapter(
    settings: ProviderSettings, metrics: Metrics
) -> AsyncIterator[HttpPaymentProvider]:
    """The real provider adapter over a client of its own."""
    client = provider_client(settings, connections=32)
    try:
        yield build_provider(settings, client, metrics=metrics)
    finally:
        await client.aclose()


# -- a running worker -------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def running_worker(
    settings: PaymentsSettings, metrics: Metrics
) -> AsyncIterator[PaymentWorker]:
    """The real ``build_worker`` process (minus its health server), listening before it yields."""
    worker, _health = build_worker(settings, metrics=metrics)
    task = asyncio.create_task(worker.run())
    try:
        await wait_until(lambda: _listening(worker, task), timeout_s=10, message="LISTEN")
        yield worker
    finally:
        worker.stop()
        async with asyncio.timeout(30):
            await task


async def _listening(worker: PaymentWorker, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()
    return worker.listener is not None and worker.listener.listening.is_set()


async def payment_row(engine: AsyncEngine, order_id: uuid.UUID) -> dict[str, Any] | None:
    """The order's payment row, as stored."""
    async with engine.connect() as conn:
        row = (
            (
                await conn.execute(
                    text("SELECT * FROM payments WHERE order_id = :o"), {"o": order_id}
                )
            )
            .mappings()
            .first()
        )
    return dict(row) if row else None


async def wait_for_status(
    engine: AsyncEngine, order_id: uuid.UUID, *statuses: str, timeout_s: float = 20
) -> dict[str, Any]:
    """Wait until the order's payment is in one of ``statuses``; return its row."""
    found: dict[str, Any] = {}

    async def reached() -> bool:
        row = await payment_row(engine, order_id)
        if row is not None and row["status"] in statuses:
            found.update(row)
            return True
        return False

    await wait_until(reached, timeout_s=timeout_s, message=f"{order_id} in {statuses}")
    return found
