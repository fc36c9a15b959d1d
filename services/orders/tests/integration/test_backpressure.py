"""Saga backpressure and lost connections through orders' real app on a database of this module's
own (the probe reads every pending order in the database, so other tests' must not count).

- While the saga lags past the threshold, ``POST /orders`` is 503 ``orders.overloaded`` with
  ``Retry-After``, stores nothing and leaves its Idempotency-Key free for the retry.
- A pooled connection killed under the app (``pg_terminate_backend``) costs no request: reads
  and writes run again on a fresh connection.
- A database that cannot be reached is 503 with ``Retry-After``, never 500.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client import REGISTRY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.adapters.persistence.saga_load import SqlaSagaLoadProbe
from orders.bootstrap import AuthSettings, OrdersSettings, build_app
from shared.db import ReadOnlyDatabase, create_engine
from shared.settings import DatabaseSettings
from shared.testing import Endpoints
from shared.testing.plugin import temporary_database

from .conftest import ALEMBIC, AUD, ISS, Tokens

pytestmark = pytest.mark.integration

BODY = {"currency": "EUR", "lines": [{"sku": "BP-1", "quantity": 1}]}


@pytest.fixture(scope="module")
async def quiet_db(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A migrated orders database that only this module writes to."""
    async with temporary_database(ordo_endpoints, "ordo_orders_bp") as database:
        await ALEMBIC.upgrade_head(database)
        yield database


@pytest.fixture(scope="module")
async def db_engine(quiet_db: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(quiet_db, application_name="orders-bp-tests")
    yield engine
    await engine.dispose()


def settings_for(database: DatabaseSettings, **overrides: object) -> OrdersSettings:
    values: dict[str, Any] = {
        "backpressure_max_saga_lag_s": 0.2,
        "backpressure_max_outbox_age_s": 0.2,
        "backpressure_quorum": 1,
        "backpressure_interval_s": 0.02,
    }
    return OrdersSettings(
        environment="test",
        # A unique application_name: the reconnect tests terminate this app's connections only.
        service_name=f"orders-bp-{uuid.uuid4().hex[:8]}",
        database=database,
        auth=AuthSettings(issuer=ISS, audience=AUD),
        **(values | overrides),
    )


@pytest.fixture(autouse=True)
async def no_backlog(db_engine: AsyncEngine) -> AsyncIterator[None]:
    """No saga or relay runs here: settle what earlier tests left waiting, before and after."""
    await clear_backlog(db_engine)
    yield
    await clear_backlog(db_engine)


async def clear_backlog(engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE orders SET status = 'cancelled', deadline_at = NULL, closed_at = now()"
                " WHERE deadline_at IS NOT NULL"
            )
        )
        await conn.execute(
            text("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        )


async def client_of(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            yield client


@pytest.fixture
async def app_settings(quiet_db: DatabaseSettings) -> OrdersSettings:
    return settings_for(quiet_db)


@pytest.fixture
async def lax_api(
    quiet_db: DatabaseSettings, tokens: Tokens
) -> AsyncIterator[tuple[httpx.AsyncClient, OrdersSettings]]:
    """An app whose backpressure lets these tests' own pending orders be."""
    settings = settings_for(
        quiet_db, backpressure_max_saga_lag_s=600, backpressure_max_outbox_age_s=600
    )
    async for client in client_of(build_app(settings, keys=tokens.keys)):
        yield client, settings


@pytest.fixture
async def api(app_settings: OrdersSettings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    async for client in client_of(build_app(app_settings, keys=tokens.keys)):
        yield client


async def scalar(engine: AsyncEngine, sql: str, **params: object) -> object:
    async with engine.connect() as conn:
        return await conn.scalar(text(sql), params)


async def lagging_order(engine: AsyncEngine, age_s: float) -> uuid.UUID:
    """A pending order (waiting for its stock step) placed ``age_s`` ago."""
    order_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO orders (id, org_id, placed_by, currency, status, version,"
                " deadline_at, placed_at, updated_at) VALUES (:i, :o, :u, 'EUR', 'pending', 1,"
                " now() + interval '30 seconds', now() - make_interval(secs => :age),"
                " now() - make_interval(secs => :age))"
            ),
            {"i": order_id, "o": uuid.uuid4(), "u": uuid.uuid4(), "age": age_s},
        )
    return order_id


async def settle(engine: AsyncEngine, order_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "UPDATE orders SET status = 'cancelled', deadline_at = NULL, closed_at = now()"
                " WHERE id = :i"
            ),
            {"i": order_id},
        )


def shed(reason: str) -> float:
    return REGISTRY.get_sample_value("orders_shed_total", {"reason": reason}) or 0.0


async def test_a_lagging_saga_refuses_new_orders_until_it_catches_up(
    api: httpx.AsyncClient, tokens: Tokens, db_engine: AsyncEngine
) -> None:
    org_id = uuid.uuid4()
    headers = tokens.headers(org_id)
    key = headers["Idempotency-Key"]
    lagging = await lagging_order(db_engine, age_s=10)
    before = shed("saga_lag")

    refused = await api.post("/orders", json=BODY, headers=headers)

    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["Retry-After"] == "1"
    assert refused.json()["code"] == "orders.overloaded"
    assert shed("saga_lag") == before + 1
    # Nothing stored, and the key was never claimed.
    assert await scalar(db_engine, "SELECT count(*) FROM orders WHERE org_id = :o", o=org_id) == 0
    claims = await scalar(db_engine, "SELECT count(*) FROM idempotency_keys WHERE key = :k", k=key)
    assert claims == 0

    await settle(db_engine, lagging)
    deadline = time.monotonic() + 5
    while (accepted := await api.post("/orders", json=BODY, headers=headers)).status_code == 503:
        assert time.monotonic() < deadline, "intake never resumed"
        await asyncio.sleep(0.02)

    assert accepted.status_code == 201, accepted.text
    replay = await api.post("/orders", json=BODY, headers=headers)
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == accepted.json()["id"]


async def test_an_old_unpublished_outbox_row_refuses_new_orders(
    api: httpx.AsyncClient, tokens: Tokens, db_engine: AsyncEngine
) -> None:
    async with db_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO outbox (id, lane, topic, key, payload, headers, created_at)"
                " VALUES (:i, 0, 'orders.events', 'k', '{}', '{}', now() - interval '10 seconds')"
            ),
            {"i": uuid.uuid4()},
        )
    before = shed("outbox_age")

    refused = await api.post("/orders", json=BODY, headers=tokens.headers(uuid.uuid4()))

    assert refused.status_code == 503, refused.text
    assert refused.json()["code"] == "orders.overloaded"
    assert shed("outbox_age") == before + 1


async def test_backpressure_switched_off_takes_every_order(
    quiet_db: DatabaseSettings, tokens: Tokens, db_engine: AsyncEngine
) -> None:
    await lagging_order(db_engine, age_s=10)
    app = build_app(settings_for(quiet_db, backpressure_enabled=False), keys=tokens.keys)
    async for client in client_of(app):
        placed = await client.post("/orders", json=BODY, headers=tokens.headers(uuid.uuid4()))
        assert placed.status_code == 201, placed.text


async def test_the_probe_measures_the_quorum_th_oldest(db_engine: AsyncEngine) -> None:
    probe = SqlaSagaLoadProbe(ReadOnlyDatabase(db_engine), quorum=2)
    old = await lagging_order(db_engine, 5)
    await lagging_order(db_engine, 20)

    load = await probe()
    # The 2nd oldest pending order is 5 s old, however old the oldest is.
    assert 4 < load.saga_lag_s < 15
    assert load.outbox_age_s == 0
    await settle(db_engine, old)
    assert (await probe()).saga_lag_s == 0  # one stuck order alone is below the quorum


# -- lost connections --------------------------------------------------------------------------


async def terminate(endpoints: Endpoints, application_name: str) -> int:
    """Kill every backend of ``application_name``, as a database restart would; return how many."""
    conn = await asyncpg.connect(endpoints.postgres_admin_dsn)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            application_name,
        )
    finally:
        await conn.close()
    await asyncio.sleep(0.1)  # let the sockets see it
    return int(killed or 0)


async def test_dead_pooled_connections_cost_no_request(
    lax_api: tuple[httpx.AsyncClient, OrdersSettings], tokens: Tokens, ordo_endpoints: Endpoints
) -> None:
    api, app_settings = lax_api
    headers = tokens.headers(uuid.uuid4())
    placed = await api.post("/orders", json=BODY, headers=headers)
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["id"]

    assert await terminate(ordo_endpoints, app_settings.service_name) >= 1
    read = await api.get(f"/orders/{order_id}", headers=headers)
    assert read.status_code == 200, read.text

    assert await terminate(ordo_endpoints, app_settings.service_name) >= 1
    written = await api.post("/orders", json=BODY, headers=tokens.headers(uuid.uuid4()))
    assert written.status_code == 201, written.text

    assert await terminate(ordo_endpoints, app_settings.service_name) >= 1
    cancelled = await api.post(f"/orders/{order_id}/cancel", headers=headers)
    assert cancelled.status_code == 202, cancelled.text


async def test_an_unreachable_database_is_503_with_retry_after(
    quiet_db: DatabaseSettings, tokens: Tokens
) -> None:
    with_socket_closed = quiet_db.model_copy(update={"port": unused_port()})
    app = build_app(settings_for(with_socket_closed), keys=tokens.keys)
    async for client in client_of(app):
        headers = tokens.headers(uuid.uuid4())
        for response in (
            await client.get(f"/orders/{uuid.uuid4()}", headers=headers),
            await client.get("/orders", headers=headers),
            await client.post("/orders", json=BODY, headers=headers),
            await client.post(f"/orders/{uuid.uuid4()}/cancel", headers=headers),
        ):
            assert response.status_code == 503, response.text
            assert response.headers["content-type"] == "application/problem+json"
            assert response.headers["Retry-After"] == "1"
            assert response.json()["code"] == "dependency.unavailable"
        ready = await client.get("/health/ready")
        assert ready.status_code == 503


def unused_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
