"""Idempotency-Key on catalog's creating POSTs, through the HTTP app on the real database."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.bootstrap import CacheSettings, build_app
from shared.settings import DatabaseSettings
from shared.testing import Endpoints

from .conftest import Tokens, app_settings

pytestmark = pytest.mark.integration

PRODUCT = {"sku": "IDEM-1", "name": "Once", "price": {"amount_minor": 700, "currency": "EUR"}}


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture(scope="module")
async def api(
    migrated: DatabaseSettings, tokens: Tokens, ordo_endpoints: Endpoints
) -> AsyncIterator[httpx.AsyncClient]:
    settings = app_settings(
        migrated,
        ordo_endpoints,
        cache=CacheSettings(key_prefix=f"test:idem:{uuid.uuid4().hex[:10]}:", listen=False),
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield client


def with_key(headers: dict[str, str], key: str) -> dict[str, str]:
    return headers | {"Idempotency-Key": key}


async def records(engine: AsyncEngine, org_id: uuid.UUID) -> list[tuple[str, str, Any]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT scope, key, status_code FROM idempotency_keys "
                "WHERE scope LIKE :org ORDER BY created_at"
            ),
            {"org": f"{org_id}:%"},
        )
        return [tuple(row) for row in rows]


async def test_the_same_key_and_body_replays_the_first_response(
    api: httpx.AsyncClient, tokens: Tokens, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    headers = with_key(tokens.headers(org_id), "create-1")
    first = await api.post("/products", json=PRODUCT, headers=headers)
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    # Same body, keys in another order and another token of the same org: still the same.
    reordered = {"price": PRODUCT["price"], "name": "Once", "sku": "IDEM-1"}
    again = await api.post(
        "/products", json=reordered, headers=with_key(tokens.headers(org_id), "create-1")
    )
    assert again.status_code == 201, again.text
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert (
        again.headers["location"] == first.headers["location"] == f"/products/{first.json()['id']}"
    )
    listed = (await api.get("/products", headers=headers)).json()["items"]
    assert [p["id"] for p in listed] == [first.json()["id"]]
    assert await records(engine, org_id) == [(f"{org_id}:create_product", "create-1", 201)]


async def test_the_same_key_with_another_body_is_422_key_reused(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    headers = with_key(tokens.headers(org_id), "create-2")
    assert (await api.post("/products", json=PRODUCT, headers=headers)).status_code == 201
    other = await api.post("/products", json=PRODUCT | {"name": "Twice"}, headers=headers)
    assert other.status_code == 422
    assert other.headers["content-type"].startswith("application/problem+json")
    assert other.json()["code"] == "idempotency.key_reused"
    assert len((await api.get("/products", headers=headers)).json()["items"]) == 1


async def test_a_twin_in_flight_is_409_in_progress(
    api: httpx.AsyncClient,
    tokens: Tokens,
    migrated: DatabaseSettings,
    org_id: uuid.UUID,
) -> None:
    # Stand in for the first request: hold the key's transaction lock as its claim does.
    holder = await asyncpg.connect(migrated.dsn())
    try:
        transaction = holder.transaction()
        await transaction.start()
        await holder.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            f"{org_id}:create_product\x1fcreate-3",
        )
        headers = with_key(tokens.headers(org_id), "create-3")
        busy = await api.post("/products", json=PRODUCT, headers=headers)
        assert (busy.status_code, busy.json()["code"]) == (409, "idempotency.in_progress")
        await transaction.rollback()
    finally:
        await holder.close()
    done = await api.post("/products", json=PRODUCT, headers=headers)
    assert done.status_code == 201, done.text
    assert "idempotent-replayed" not in done.headers


async def test_concurrent_twins_create_one_product(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    headers = with_key(tokens.headers(org_id), "create-4")
    answers = await asyncio.gather(
        *(api.post("/products", json=PRODUCT, headers=headers) for _ in range(8))
    )
    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {201, 409}, [a.text for a in answers]
    created = [a.json() for a in answers if a.status_code == 201]
    assert created
    assert all(body == created[0] for body in created)
    conflicts = [a.json()["code"] for a in answers if a.status_code == 409]
    assert set(conflicts) <= {"idempotency.in_progress"}
    assert len((await api.get("/products", headers=headers)).json()["items"]) == 1


async def test_a_failed_create_stores_no_record_and_the_key_stays_usable(
    api: httpx.AsyncClient, tokens: Tokens, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    assert (await api.post("/products", json=PRODUCT, headers=tokens.headers(org_id))).is_success
    taken = await api.post(
        "/products", json=PRODUCT, headers=with_key(tokens.headers(org_id), "k5")
    )
    assert (taken.status_code, taken.json()["code"]) == (409, "product.sku_taken")
    assert "k5" not in [key for _scope, key, _status in await records(engine, org_id)]
    other = await api.post(
        "/products",
        json=PRODUCT | {"sku": "IDEM-2"},
        headers=with_key(tokens.headers(org_id), "k5"),
    )
    assert other.status_code == 201
    assert "idempotent-replayed" not in other.headers


async def test_an_adjustment_is_applied_once_per_key(
    api: httpx.AsyncClient, tokens: Tokens, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    headers = tokens.headers(org_id)
    assert (await api.post("/products", json=PRODUCT, headers=headers)).status_code == 201
    path = "/stock/IDEM-1/adjustments"
    received = {"delta": 5, "reason": "received"}
    first = await api.post(path, json=received, headers=with_key(headers, "adj-1"))
    again = await api.post(path, json=received, headers=with_key(headers, "adj-1"))
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()  # the same adjustment id, the level as it was then
    assert first.json()["stock"]["on_hand"] == 5
    level = (await api.get("/stock/IDEM-1", headers=headers)).json()
    assert level["on_hand"] == 5
    reused = await api.post(path, json=received | {"delta": 6}, headers=with_key(headers, "adj-1"))
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency.key_reused")
    # Another SKU is another request: the path is part of the fingerprint.
    body = PRODUCT | {"sku": "IDEM-9"}
    assert (await api.post("/products", json=body, headers=tokens.headers(org_id))).is_success
    elsewhere = await api.post(
        "/stock/IDEM-9/adjustments", json=received, headers=with_key(headers, "adj-1")
    )
    assert (elsewhere.status_code, elsewhere.json()["code"]) == (422, "idempotency.key_reused")

    too_many = await api.post(
        path, json={"delta": -50, "reason": "lost"}, headers=with_key(headers, "adj-2")
    )
    assert too_many.status_code == 422
    assert (await api.get("/stock/IDEM-1", headers=headers)).json()["on_hand"] == 5
    keys = [
        key for scope, key, _ in await records(engine, org_id) if scope.endswith("adjust_stock")
    ]
    assert keys == ["adj-1"]
    retried = await api.post(
        path, json={"delta": -1, "reason": "lost"}, headers=with_key(headers, "adj-2")
    )
    assert retried.status_code == 201
    assert retried.json()["stock"]["on_hand"] == 4


async def test_keys_are_per_org(api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID) -> None:
    mine = await api.post("/products", json=PRODUCT, headers=with_key(tokens.headers(org_id), "o"))
    theirs = await api.post(
        "/products", json=PRODUCT, headers=with_key(tokens.headers(uuid.uuid4()), "o")
    )
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert "idempotent-replayed" not in theirs.headers
    assert mine.json()["id"] != theirs.json()["id"]
