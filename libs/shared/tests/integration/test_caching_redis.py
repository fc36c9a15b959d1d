"""LayeredCache on the real Redis and the invalidation listener on the real Kafka."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from redis.asyncio import Redis

from shared.caching import (
    TOMBSTONE,
    CacheInvalidationListener,
    CacheKey,
    CacheMetrics,
    CachePolicy,
    ChangeEvent,
    JsonCodec,
    LayeredCache,
    LocalCacheGate,
    RedisCacheStore,
)
from shared.inbox.testing import cloud_event_headers, publish_records, wait_until
from shared.observability.metrics import Metrics
from shared.settings import KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import NewTopic

pytestmark = pytest.mark.integration

CODEC = JsonCodec[dict[str, Any]](dump=dict, load=dict)


class Source:
    """The source of truth: a dict, its reads counted, optionally slow."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.reads = 0
        self.delay_s = delay_s

    def loader(self, key: CacheKey) -> Any:
        async def load() -> dict[str, Any] | None:
            self.reads += 1
            row = self.rows.get(key.id)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            return dict(row) if row is not None else None

        return load


def cache_on(
    store: RedisCacheStore | None,
    metrics: CacheMetrics,
    gate: LocalCacheGate | None = None,
    **policy: Any,
) -> LayeredCache[dict[str, Any]]:
    options = {"ttl_s": 30, "negative_ttl_s": 5, "jitter": 0.1} | policy
    return LayeredCache(
        "item", codec=CODEC, policy=CachePolicy(**options), remote=store, gate=gate, metrics=metrics
    )


@pytest.fixture
def metrics() -> CacheMetrics:
    return CacheMetrics(CollectorRegistry())


@pytest.fixture
def store(redis_client: Redis, redis_prefix: str) -> RedisCacheStore:
    return RedisCacheStore(redis_client, prefix=redis_prefix, timeout_s=1.0)


async def test_instances_share_redis_entries_with_jittered_ttls(
    store: RedisCacheStore, redis_client: Redis, redis_prefix: str, metrics: CacheMetrics
) -> None:
    source = Source()
    a, b = cache_on(store, metrics), cache_on(store, metrics)
    for i in range(20):
        source.rows[f"p{i}"] = {"i": i}
        key = CacheKey("org-1", f"p{i}")
        assert await a.get(key, source.loader(key)) == {"i": i}
        assert await b.get(key, source.loader(key)) == {"i": i}
    assert source.reads == 20
    names = [k async for k in redis_client.scan_iter(match=f"{redis_prefix}item:v1:org-1:*")]
    assert len(names) == 20
    ttls = [await redis_client.pttl(name) for name in names]
    assert all(26_000 <= ttl <= 33_000 for ttl in ttls), ttls
    assert max(ttls) - min(ttls) > 500  # spread, not one expiry for all
    raw = await redis_client.get(f"{redis_prefix}item:v1:org-1:p3")
    assert raw is not None
    assert json.loads(raw) == {"found": True, "value": {"i": 3}}  # JSON, not pickle


async def test_concurrent_misses_on_two_instances_load_once(
    store: RedisCacheStore, metrics: CacheMetrics
) -> None:
    source = Source(delay_s=0.1)
    source.rows["hot"] = {"v": 1}
    key = CacheKey("org-1", "hot")
    # The loser waits up to 5 s for the winner's value (slow machines), then would load too.
    a, b = cache_on(store, metrics, lock_wait_s=5), cache_on(store, metrics, lock_wait_s=5)
    results = await asyncio.gather(
        *(cache.get(key, source.loader(key)) for cache in (a, b) for _ in range(25))
    )
    assert results == [{"v": 1}] * 50
    assert source.reads == 1


async def test_a_tombstone_refuses_a_fill_loaded_before_the_write(
    store: RedisCacheStore, redis_client: Redis, redis_prefix: str, metrics: CacheMetrics
) -> None:
    key = CacheKey("org-1", "p")
    row = {"price": 100}
    has_read, may_finish = asyncio.Event(), asyncio.Event()

    async def slow_load() -> dict[str, Any]:
        seen = dict(row)  # reads the old row ...
        has_read.set()
        await may_finish.wait()  # ... and reaches Redis only after the write
        return seen

    reader, writer = cache_on(store, metrics), cache_on(store, metrics)
    slow_read = asyncio.create_task(reader.get(key, slow_load))
    await asyncio.wait_for(has_read.wait(), 10)
    row["price"] = 200
    await writer.invalidate([key])  # the writer committed, then invalidated
    may_finish.set()
    assert await slow_read == {"price": 100}  # its caller gets what it read ...
    assert await redis_client.get(f"{redis_prefix}item:v1:org-1:p") == TOMBSTONE  # ... not Redis

    async def load_now() -> dict[str, Any]:
        return dict(row)

    assert await cache_on(store, metrics).get(key, load_now) == {"price": 200}


async def test_a_hanging_redis_degrades_to_the_loader_and_the_breaker_stops_waiting(
    metrics: CacheMetrics,
) -> None:
    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, reads, never replies: every command times out
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    hanging = Redis(host="127.0.0.1", port=port, socket_connect_timeout=1, socket_timeout=1)
    breaker_metrics = Metrics(CollectorRegistry())
    store = RedisCacheStore(hanging, prefix="t:", timeout_s=0.2, metrics=breaker_metrics)
    source = Source()
    source.rows["p"] = {"v": 1}
    key = CacheKey("org-1", "p")
    cache = cache_on(store, metrics, local_ttl_s=0)
    try:
        started = time.perf_counter()
        assert await cache.get(key, source.loader(key)) == {"v": 1}
        assert time.perf_counter() - started >= 0.2  # waited for Redis, up to the deadline
        for _ in range(3):
            assert await cache.get(key, source.loader(key)) == {"v": 1}
        state = breaker_metrics.registry.get_sample_value("breaker_state", {"name": "redis-cache"})
        assert state == 2  # open
        started = time.perf_counter()
        assert await cache.get(key, source.loader(key)) == {"v": 1}
        assert time.perf_counter() - started < 0.15  # no waiting on Redis while open
        await cache.invalidate([key])  # never raises either
    finally:
        await hanging.aclose()
        server.close()
    assert source.reads == 5
    errors = metrics.registry.get_sample_value(
        "cache_errors_total", {"cache": "item", "operation": "get"}
    )
    assert errors == 5


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap)


async def test_the_listener_evicts_what_another_instance_changed(
    store: RedisCacheStore, metrics: CacheMetrics, kafka: KafkaSettings, new_topic: NewTopic
) -> None:
    topic = await new_topic(partitions=3)
    source = Source()
    source.rows["p"] = {"price": 100}
    key = CacheKey("org-1", "p")
    gate = LocalCacheGate()
    cache = cache_on(store, metrics, gate=gate)

    async def on_change(event: ChangeEvent) -> bool:
        if event.type != "ordo.test.item.changed.v1":
            return False
        await cache.invalidate([CacheKey(event.org_id or "", event.data["id"])], source="event")
        return True

    listener = CacheInvalidationListener(
        topic=topic, kafka=kafka, on_change=on_change, gate=gate, metrics=metrics
    )
    listener.start()
    try:
        assert await listener.wait_live(15)
        assert gate.is_open
        assert await cache.get(key, source.loader(key)) == {"price": 100}
        source.rows["p"] = {"price": 200}  # another instance wrote (and buried Redis)
        await store.invalidate([store.key("item:v1:org-1:p")], 5)
        assert await cache.get(key, source.loader(key)) == {"price": 100}  # held in-process
        changed = cloud_event_headers("ordo.test.item.changed.v1", extra={"ce_orgid": "org-1"})
        await publish_records(kafka, topic, [(b"p", {"id": "p"}, changed)])

        async def fresh() -> bool:
            return await cache.get(key, source.loader(key)) == {"price": 200}

        await wait_until(fresh, timeout_s=15, message="the event evicted the old price")
        reads = source.reads
        await publish_records(kafka, topic, [(b"x", b"not json", changed)])

        async def flushed() -> bool:
            await cache.get(key, source.loader(key))
            return source.reads > reads

        await wait_until(flushed, timeout_s=15, message="an unreadable event emptied the layer")
        samples = {
            outcome: metrics.registry.get_sample_value(
                "cache_invalidation_events_total", {"topic": topic, "outcome": outcome}
            )
            for outcome in ("applied", "malformed")
        }
        assert samples == {"applied": 1.0, "malformed": 1.0}
    finally:
        await listener.stop()
    assert not gate.is_open
    up = metrics.registry.get_sample_value("cache_listener_up", {"topic": topic})
    assert up == 0


async def test_a_listener_without_its_topic_keeps_the_local_layer_closed(
    metrics: CacheMetrics, kafka: KafkaSettings
) -> None:
    gate = LocalCacheGate()

    async def on_change(_event: ChangeEvent) -> bool:
        return True

    listener = CacheInvalidationListener(
        topic=f"test.missing.{uuid.uuid4().hex[:8]}",
        kafka=kafka,
        on_change=on_change,
        gate=gate,
        metrics=metrics,
        assignment_timeout_s=0.5,
        retry_delay_s=0.2,
    )
    listener.start()
    try:
        assert not await listener.wait_live(1.5)
        assert not gate.is_open
        cache = cache_on(None, metrics, gate=gate)
        source = Source()
        source.rows["p"] = {"v": 1}
        key = CacheKey("org-1", "p")
        for _ in range(3):
            assert await cache.get(key, source.loader(key)) == {"v": 1}
        assert source.reads == 3  # nothing served in-process while nothing invalidates it
    finally:
        await listener.stop()
