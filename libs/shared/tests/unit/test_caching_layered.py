"""LayeredCache without IO: single flight, layers, negative results, failures, invalidation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest
from prometheus_client import CollectorRegistry

from shared.caching import (
    TOMBSTONE,
    CacheBackendError,
    CacheKey,
    CacheMetrics,
    CachePolicy,
    JsonCodec,
    LayeredCache,
    LocalCacheGate,
    RemoteHit,
    memo_scope,
)

KEY = CacheKey("org-1", "item-1")


class FakeTimer:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeRemote:
    """An in-memory RemoteStore that can be told to fail."""

    values: dict[str, tuple[bytes, float]] = field(default_factory=dict)
    locks: dict[str, str] = field(default_factory=dict)
    failing: bool = False
    calls: list[str] = field(default_factory=list)

    def key(self, name: str) -> str:
        return f"svc:{name}"

    def _check(self, operation: str) -> None:
        self.calls.append(operation)
        if self.failing:
            raise CacheBackendError(operation)

    async def get(self, key: str) -> RemoteHit | None:
        self._check("get")
        found = self.values.get(key)
        return RemoteHit(found[0], found[1]) if found else None

    async def fill(self, key: str, value: bytes, ttl_s: float) -> bool:
        self._check("set")
        if key in self.values:
            return False
        self.values[key] = (value, ttl_s)
        return True

    async def invalidate(self, keys: Sequence[str], hold_s: float) -> None:
        self._check("invalidate")
        for key in keys:
            self.values[key] = (TOMBSTONE, hold_s)

    async def try_lock(self, key: str, token: str, ttl_s: float) -> bool:
        self._check("lock")
        return self.locks.setdefault(key, token) == token

    async def unlock(self, key: str, token: str) -> None:
        self._check("lock")
        if self.locks.get(key) == token:
            del self.locks[key]


@dataclass
class Loader:
    """Counts its calls; returns ``value`` (None: absent) after ``gate`` opens."""

    value: dict[str, int] | None = field(default_factory=lambda: {"n": 1})
    calls: int = 0
    gate: asyncio.Event | None = None
    error: Exception | None = None

    async def __call__(self) -> dict[str, int] | None:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return None if self.value is None else dict(self.value)


CODEC = JsonCodec[dict[str, int]](dump=dict, load=dict)


@pytest.fixture
def metrics() -> CacheMetrics:
    return CacheMetrics(CollectorRegistry())


def count(metrics: CacheMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, {"cache": "item", **labels}) or 0.0


def make(
    metrics: CacheMetrics,
    *,
    remote: FakeRemote | None = None,
    gate: LocalCacheGate | None = None,
    timer: FakeTimer | None = None,
    **policy: float,
) -> LayeredCache[dict[str, int]]:
    options: dict[str, float] = {"ttl_s": 60, "negative_ttl_s": 5, "jitter": 0.0} | policy
    return LayeredCache(
        "item",
        codec=CODEC,
        policy=CachePolicy(**options),  # type: ignore[arg-type]
        remote=remote,
        gate=gate,
        metrics=metrics,
        timer=timer or FakeTimer(),
    )


async def test_fifty_concurrent_misses_call_the_loader_once(metrics: CacheMetrics) -> None:
    cache = make(metrics, remote=FakeRemote())
    load = Loader(gate=asyncio.Event())
    waiting = [asyncio.create_task(cache.get(KEY, load)) for _ in range(50)]
    await asyncio.sleep(0.01)
    load.gate.set()  # type: ignore[union-attr]
    results = await asyncio.gather(*waiting)
    assert load.calls == 1
    assert results == [{"n": 1}] * 50
    assert len({id(r) for r in results}) == 50  # every caller gets its own copy
    assert count(metrics, "cache_coalesced_total") == 49
    assert count(metrics, "cache_loads_total", outcome="found") == 1


async def test_a_loader_error_reaches_every_waiter_and_is_not_cached(
    metrics: CacheMetrics,
) -> None:
    cache = make(metrics)
    load = Loader(gate=asyncio.Event(), error=RuntimeError("db down"))
    waiting = [asyncio.create_task(cache.get(KEY, load)) for _ in range(5)]
    await asyncio.sleep(0.01)
    load.gate.set()  # type: ignore[union-attr]
    outcomes = await asyncio.gather(*waiting, return_exceptions=True)
    assert all(isinstance(o, RuntimeError) for o in outcomes)
    load.error = None
    assert await cache.get(KEY, load) == {"n": 1}
    assert load.calls == 2


async def test_a_cancelled_caller_does_not_cancel_the_load_of_the_others(
    metrics: CacheMetrics,
) -> None:
    cache = make(metrics)
    load = Loader(gate=asyncio.Event())
    first = asyncio.create_task(cache.get(KEY, load))
    await asyncio.sleep(0)
    second = asyncio.create_task(cache.get(KEY, load))
    await asyncio.sleep(0.01)
    first.cancel()
    load.gate.set()  # type: ignore[union-attr]
    assert await second == {"n": 1}
    assert load.calls == 1


async def test_layers_answer_in_order_and_count_hits_and_misses(metrics: CacheMetrics) -> None:
    remote = FakeRemote()
    a = make(metrics, remote=remote)
    b = make(metrics, remote=remote)  # another instance, same Redis
    load = Loader()
    with memo_scope():
        assert await a.get(KEY, load) == {"n": 1}  # loader
        assert await a.get(KEY, load) == {"n": 1}  # memo
    assert await a.get(KEY, load) == {"n": 1}  # in-process
    assert await b.get(KEY, load) == {"n": 1}  # Redis
    assert load.calls == 1
    assert count(metrics, "cache_requests_total", layer="memo", result="hit") == 1
    assert count(metrics, "cache_requests_total", layer="memo", result="miss") == 1
    assert count(metrics, "cache_requests_total", layer="local", result="hit") == 1
    assert count(metrics, "cache_requests_total", layer="local", result="miss") == 2
    assert count(metrics, "cache_requests_total", layer="redis", result="hit") == 1
    assert count(metrics, "cache_requests_total", layer="redis", result="miss") == 1


async def test_local_entries_expire_with_the_injected_clock_and_never_outlive_redis(
    metrics: CacheMetrics,
) -> None:
    timer = FakeTimer()
    remote = FakeRemote()
    cache = make(metrics, remote=remote, timer=timer, local_ttl_s=10)
    load = Loader()
    await cache.get(KEY, load)
    timer.now = 9.9
    await cache.get(KEY, load)
    assert remote.calls.count("get") == 1  # served in-process
    timer.now = 10.0
    await cache.get(KEY, load)
    assert remote.calls.count("get") == 2  # expired locally, found in Redis
    assert load.calls == 1
    # A Redis entry with 2 s left is kept in-process for 2 s, not 10.
    (name,) = remote.values
    remote.values[name] = (remote.values[name][0], 2.0)
    fresh = make(metrics, remote=remote, timer=timer, local_ttl_s=10)
    await fresh.get(KEY, load)
    timer.now += 2.0
    await fresh.get(KEY, load)
    assert remote.calls.count("get") == 4


async def test_stored_ttls_are_jittered_within_bounds(metrics: CacheMetrics) -> None:
    remote = FakeRemote()
    cache = make(metrics, remote=remote, jitter=0.2)
    for i in range(200):
        await cache.get(CacheKey("org-1", f"k{i}"), Loader())
    ttls = [ttl for _value, ttl in remote.values.values()]
    assert all(48 <= ttl <= 72 for ttl in ttls)
    assert max(ttls) - min(ttls) > 10


async def test_absence_is_cached_under_its_own_ttl_or_not_at_all(metrics: CacheMetrics) -> None:
    timer = FakeTimer()
    remote = FakeRemote()
    cache = make(metrics, remote=remote, timer=timer, negative_ttl_s=5)
    absent = Loader(value=None)
    assert await cache.get(KEY, absent) is None
    assert await cache.get(KEY, absent) is None
    assert absent.calls == 1
    assert [ttl for _v, ttl in remote.values.values()] == [5]
    assert count(metrics, "cache_requests_total", layer="local", result="negative_hit") == 1
    timer.now = 5.0
    remote.values.clear()
    assert await cache.get(KEY, absent) is None
    assert absent.calls == 2

    uncached = make(metrics, remote=FakeRemote(), negative_ttl_s=0)
    nothing = Loader(value=None)
    assert await uncached.get(KEY, nothing) is None
    assert await uncached.get(KEY, nothing) is None
    assert nothing.calls == 2


async def test_a_failing_redis_degrades_to_the_loader(metrics: CacheMetrics) -> None:
    remote = FakeRemote(failing=True)
    cache = make(metrics, remote=remote)
    load = Loader()
    assert await cache.get(KEY, load) == {"n": 1}
    await cache.invalidate([KEY])  # does not raise either
    assert await cache.get(KEY, load) == {"n": 1}
    assert load.calls == 2
    assert count(metrics, "cache_errors_total", operation="get") == 2
    assert count(metrics, "cache_errors_total", operation="lock") == 2
    assert count(metrics, "cache_errors_total", operation="invalidate") == 1


async def test_an_undecodable_redis_entry_is_a_miss_and_is_buried(metrics: CacheMetrics) -> None:
    remote = FakeRemote()
    cache = make(metrics, remote=remote)
    remote.values["svc:item:v1:org-1:item-1"] = (b"\x80\x04pickle", 60)
    load = Loader()
    assert await cache.get(KEY, load) == {"n": 1}
    assert load.calls == 1
    assert count(metrics, "cache_errors_total", operation="decode") == 1
    assert remote.values["svc:item:v1:org-1:item-1"][0] == TOMBSTONE


async def test_an_instance_that_loses_the_fill_lock_waits_for_the_winners_value(
    metrics: CacheMetrics,
) -> None:
    remote = FakeRemote()
    winner = make(metrics, remote=remote)
    loser = make(metrics, remote=remote, lock_wait_s=5)
    slow = Loader(gate=asyncio.Event())
    first = asyncio.create_task(winner.get(KEY, slow))
    await asyncio.sleep(0.01)
    other = Loader()
    second = asyncio.create_task(loser.get(KEY, other))
    await asyncio.sleep(0.03)
    slow.gate.set()  # type: ignore[union-attr]
    assert list(await asyncio.gather(first, second)) == [{"n": 1}, {"n": 1}]
    assert (slow.calls, other.calls) == (1, 0)
    assert remote.locks == {}


async def test_a_lock_never_released_only_delays_the_loser(metrics: CacheMetrics) -> None:
    remote = FakeRemote()
    remote.locks["svc:item:v1:org-1:item-1:lock"] = "someone-who-died"
    cache = make(metrics, remote=remote, lock_wait_s=0.05)
    load = Loader()
    assert await cache.get(KEY, load) == {"n": 1}
    assert load.calls == 1


async def test_invalidate_forgets_every_layer_and_tombstones_refuse_old_fills(
    metrics: CacheMetrics,
) -> None:
    remote = FakeRemote()
    a, b = make(metrics, remote=remote), make(metrics, remote=remote)
    load = Loader()
    with memo_scope():
        await a.get(KEY, load)
        await a.invalidate([KEY])
        load.value = {"n": 2}
        assert await a.get(KEY, load) == {"n": 2}  # not the memo's old value
    assert remote.values["svc:item:v1:org-1:item-1"][0] == TOMBSTONE  # not refilled
    assert await b.get(KEY, load) == {"n": 2}
    assert load.calls == 3
    assert count(metrics, "cache_invalidations_total", source="write") == 1


async def test_a_fill_overtaken_by_an_invalidation_is_returned_but_not_kept(
    metrics: CacheMetrics,
) -> None:
    cache = make(metrics)
    old = Loader(gate=asyncio.Event())
    reading = asyncio.create_task(cache.get(KEY, old))
    await asyncio.sleep(0.01)
    await cache.invalidate([KEY], source="event")  # the write committed meanwhile
    new = Loader(value={"n": 2})
    assert await cache.get(KEY, new) == {"n": 2}  # does not join the stale load
    old.gate.set()  # type: ignore[union-attr]
    assert await reading == {"n": 1}
    assert await cache.get(KEY, Loader(value={"n": 3})) == {"n": 2}  # old value never stored
    assert count(metrics, "cache_invalidations_total", source="event") == 1


async def test_a_closed_gate_bypasses_the_local_layer_and_reopens_it_empty(
    metrics: CacheMetrics,
) -> None:
    gate = LocalCacheGate()
    cache = make(metrics, gate=gate)
    load = Loader()
    await cache.get(KEY, load)
    await cache.get(KEY, load)
    assert load.calls == 2  # closed: nothing kept in-process
    gate.open()
    await cache.get(KEY, load)
    await cache.get(KEY, load)
    assert load.calls == 3
    gate.close()
    gate.open()  # an outage in between: whatever was held may have missed an event
    await cache.get(KEY, load)
    assert load.calls == 4
    gate.flush()
    await cache.get(KEY, load)
    assert load.calls == 5


def test_cache_names_are_words(metrics: CacheMetrics) -> None:
    with pytest.raises(ValueError, match="name"):
        LayeredCache("a:b", codec=CODEC, policy=CachePolicy(ttl_s=1), metrics=metrics)
