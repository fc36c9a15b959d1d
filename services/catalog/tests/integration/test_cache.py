"""Catalog's read caches across instances: real PostgreSQL, Redis and Kafka.

TTLs here are long (5 min), so a fresh answer within the deadline can only come from an
invalidation, never from an expiry. Events reach the instances through a topic of the test's
own (:class:`OutboxRelayStandIn` publishes the outbox rows, as the relay does).
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.adapters.messaging.handlers import ORDER_PLACED
from catalog.bootstrap import CacheSettings, CatalogSettings, build_app, build_consumer
from shared.caching import TOMBSTONE
from shared.inbox import ensure_inbox_topics
from shared.inbox.testing import cloud_event_headers, publish_records, wait_until
from shared.messaging import delete_topics
from shared.settings import DatabaseSettings, KafkaSettings, RedisSettings
from shared.testing import Endpoints
from shared.testing.plugin import NewTopic

from .conftest import OutboxRelayStandIn, Tokens, app_settings

pytestmark = pytest.mark.integration

LONG = {"product_ttl_s": 300, "stock_ttl_s": 60}


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)


@pytest.fixture
async def events_topic(new_topic: NewTopic) -> str:
    """A stand-in for catalog.events."""
    return await new_topic(partitions=3)


@pytest.fixture
def settings(
    migrated: DatabaseSettings, ordo_endpoints: Endpoints, redis_prefix: str, events_topic: str
) -> CatalogSettings:
    return app_settings(
        migrated,
        ordo_endpoints,
        cache=CacheSettings(key_prefix=redis_prefix, **LONG),
        events_topic=events_topic,
    )


@contextlib.asynccontextmanager
async def instance(settings: CatalogSettings, tokens: Tokens) -> AsyncIterator[httpx.AsyncClient]:
    """One catalog API instance (``build_app``), following its events topic."""
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        listener = app.state.cache_listener
        if listener is not None:
            assert await listener.wait_live(20), "the cache listener did not start"
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield client


async def json_of(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def test_a_price_changed_through_one_instance_is_seen_through_the_other(
    settings: CatalogSettings,
    tokens: Tokens,
    engine: AsyncEngine,
    kafka: KafkaSettings,
    events_topic: str,
    redis_client: Redis,
    redis_prefix: str,
    org_id: uuid.UUID,
) -> None:
    relay = OutboxRelayStandIn(engine, kafka, events_topic)
    headers = tokens.headers(org_id)
    async with instance(settings, tokens) as a, instance(settings, tokens) as b:
        body = {"sku": "X-1", "name": "Cached", "price": {"amount_minor": 100, "currency": "EUR"}}
        product = await json_of(await a.post("/products", json=body, headers=headers), 201)
        path = f"/products/{product['id']}"
        for client in (b, a):
            assert (await json_of(await client.get(path, headers=headers)))["price"] == body[
                "price"
            ]
        new_price = {"price": {"amount_minor": 250, "currency": "EUR"}}
        await json_of(await a.put(f"{path}/price", json=new_price, headers=headers))

        # The writer forgot its own copy and buried the shared one at once ...
        assert (await json_of(await a.get(path, headers=headers)))["price"]["amount_minor"] == 250
        key = f"{redis_prefix}product:v1:{org_id}:{product['id']}"
        assert await redis_client.get(key) == TOMBSTONE
        # ... while the other instance still holds the old price in-process, until the event.
        assert (await json_of(await b.get(path, headers=headers)))["price"]["amount_minor"] == 100
        assert await relay.publish(org_id) == [
            "ordo.catalog.product.created.v1",
            "ordo.catalog.product.price_changed.v1",
        ]

        async def b_sees_the_new_price() -> bool:
            got = await json_of(await b.get(path, headers=headers))
            return bool(got["price"]["amount_minor"] == 250 and got["version"] == 2)

        await wait_until(b_sees_the_new_price, timeout_s=20, message="instance B saw the price")

        stranger = tokens.headers(uuid.uuid4(), "owner")
        denied = await b.get(path, headers=stranger)
        assert (denied.status_code, denied.json()["code"]) == (404, "product.not_found")


@pytest.fixture
async def orders_topic(new_topic: NewTopic, kafka: KafkaSettings, kafka_group: str) -> Any:
    """A stand-in for orders.events with the group's retry lane and dead-letter topic."""
    name = await new_topic(partitions=3)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, kafka_group, partitions=3)
    yield name
    await delete_topics(kafka.bootstrap_servers, twins)


@contextlib.asynccontextmanager
async def saga_consumer(settings: CatalogSettings) -> AsyncIterator[None]:
    """Catalog's consumer process as ``build_consumer`` wires it (without its health server)."""
    process = build_consumer(settings)
    async with LifespanManager(process.health):
        await process.start()
        try:
            yield
        finally:
            await process.stop()


async def test_a_reservation_by_the_saga_consumer_invalidates_cached_stock(
    settings: CatalogSettings,
    tokens: Tokens,
    engine: AsyncEngine,
    kafka: KafkaSettings,
    events_topic: str,
    orders_topic: str,
    kafka_group: str,
    redis_client: Redis,
    redis_prefix: str,
    org_id: uuid.UUID,
) -> None:
    relay = OutboxRelayStandIn(engine, kafka, events_topic)
    headers = tokens.headers(org_id)
    consumer_settings = settings.model_copy(
        update={"orders_topic": orders_topic, "consumer_group": kafka_group}
    )
    async with instance(settings, tokens) as api:
        body = {"sku": "R-1", "name": "Reserved", "price": {"amount_minor": 500, "currency": "EUR"}}
        await json_of(await api.post("/products", json=body, headers=headers), 201)
        await json_of(await api.put("/stock/R-1", json={"on_hand": 10}, headers=headers))
        before = await json_of(await api.get("/stock/R-1", headers=headers))
        assert (before["available"], before["reserved"]) == (10, 0)

        order_id = uuid.uuid4()
        placed = {
            "order_id": str(order_id),
            "org_id": str(org_id),
            "order_version": 1,
            "placed_by": str(uuid.uuid4()),
            "currency": "EUR",
            "lines": [{"sku": "R-1", "quantity": 3}],
            "placed_at": "2026-11-26T12:00:00Z",
        }
        event = cloud_event_headers(ORDER_PLACED, extra={"ce_orgid": str(org_id)})
        async with saga_consumer(consumer_settings):
            await publish_records(kafka, orders_topic, [(str(order_id).encode(), placed, event)])
            stock_key = f"{redis_prefix}stock:v1:{org_id}:R-1"

            async def consumer_buried_the_shared_entry() -> bool:
                return bool(await redis_client.get(stock_key) == TOMBSTONE)

            await wait_until(consumer_buried_the_shared_entry, timeout_s=30, message="reserved")

        # The API instance's own copy goes only when the event arrives:
        still = await json_of(await api.get("/stock/R-1", headers=headers))
        assert still["reserved"] == 0
        published = await relay.publish(org_id)
        assert published[-1] == "ordo.catalog.stock.reserved.v1"

        async def api_sees_the_reservation() -> bool:
            got = await json_of(await api.get("/stock/R-1", headers=headers))
            return bool((got["available"], got["reserved"]) == (7, 3))

        await wait_until(api_sees_the_reservation, timeout_s=20, message="stock.reserved seen")


async def test_reads_and_writes_work_with_redis_down(
    migrated: DatabaseSettings,
    ordo_endpoints: Endpoints,
    tokens: Tokens,
    org_id: uuid.UUID,
) -> None:
    settings = app_settings(
        migrated,
        ordo_endpoints,
        cache=CacheSettings(key_prefix="test:dead-redis:", listen=False),
    ).model_copy(update={"redis": RedisSettings(port=1, socket_timeout_s=0.2)})
    headers = tokens.headers(org_id)
    async with instance(settings, tokens) as api:
        body = {"sku": "D-1", "name": "Dead", "price": {"amount_minor": 1, "currency": "EUR"}}
        product = await json_of(await api.post("/products", json=body, headers=headers), 201)
        for _ in range(3):
            got = await json_of(await api.get(f"/products/{product['id']}", headers=headers))
            assert got["sku"] == "D-1"
        level = await json_of(await api.get("/stock/D-1", headers=headers))
        assert level["on_hand"] == 0
        missing = await api.get(f"/products/{uuid.uuid4()}", headers=headers)
        assert missing.status_code == 404
