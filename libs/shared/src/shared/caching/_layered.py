"""The layered read cache: request memo -> in-process TTL/LRU -> Redis -> loader.

See the package docstring (``shared.caching``) for the design; this module is the mechanism.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog

from shared.caching._codec import CacheDecodeError, Entry, JsonCodec
from shared.caching._gate import LocalCacheGate
from shared.caching._keys import CacheKey
from shared.caching._local import LocalTTLCache
from shared.caching._memo import current_memo
from shared.caching._metrics import CacheMetrics, default_cache_metrics
from shared.caching._policy import CachePolicy, jittered
from shared.caching._store import TOMBSTONE, CacheBackendError, RemoteStore

__all__ = ["LayeredCache", "Loader", "invalidate_together"]

T = TypeVar("T")
Loader = Callable[[], Awaitable[T | None]]
"""Loads the value of a key from the source of truth; None means "there is none"."""

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class _Flight:
    """One load in progress for one key; callers that miss meanwhile wait for it."""

    epoch: int
    stale: bool = False
    task: asyncio.Task[bytes] | None = field(default=None, repr=False)


class LayeredCache(Generic[T]):
    """A read-through cache of one kind of value, in three layers, with one loader per miss.

    ``await cache.get(key, load)`` answers from the first layer that has ``key``: the request's
    memo, the in-process LRU, Redis; on a miss of all three it calls ``load`` (once per key
    per instance however many callers miss together, and, through a short Redis lock, mostly
    once across instances) and fills the layers. ``await cache.invalidate(keys)`` after a write
    commits, and on every event that says another instance wrote.

    Args:
        name: the cache's name: a metrics label and part of every key (``product``).
        codec: JSON (de)serialisation of the values; its version is part of the Redis key.
        policy: TTLs, jitter, sizes, lock timings.
        remote: the shared layer (:class:`~shared.caching.RedisCacheStore`); None: none.
        gate: closes the in-process layer while its invalidations cannot be trusted.
        metrics: where hits, misses, loads and errors are counted (process default if None).
        timer: monotonic seconds for the in-process TTLs (tests pass a fake clock).
        rand: uniform [0, 1) for the TTL jitter (tests pass a fixed one).
    """

    def __init__(
        self,
        name: str,
        *,
        codec: JsonCodec[T],
        policy: CachePolicy,
        remote: RemoteStore | None = None,
        gate: LocalCacheGate | None = None,
        metrics: CacheMetrics | None = None,
        timer: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not name or ":" in name:
            raise ValueError("a cache name is a non-empty word without ':'")
        self.name = name
        self.policy = policy
        self._codec = codec
        self._remote = remote
        self._gate = gate
        self._metrics = metrics if metrics is not None else default_cache_metrics()
        self._rand = rand
        self._local = (
            LocalTTLCache(policy.local_max_entries, timer=timer) if policy.local_cap() > 0 else None
        )
        self._epoch = gate.epoch if gate is not None else 0
        self._flights: dict[str, _Flight] = {}

    # -- keys -------------------------------------------------------------------------------

    def _memo_key(self, key: CacheKey) -> str:
        return f"{self.name}\x1f{key.render()}"

    def _remote_key(self, remote: RemoteStore, key: CacheKey) -> str:
        return remote.key(f"{self.name}:v{self._codec.version}:{key.render()}")

    # -- reads ------------------------------------------------------------------------------

    async def get(self, key: CacheKey, load: Loader[T]) -> T | None:
        """The value of ``key`` (None: the loader found none), from the first layer that has it.

        Authorize before calling: the key must name everything the value depends on (its
        tenant first), since one caller's load answers every concurrent caller of that key.
        Loader errors propagate to every caller waiting for that load and are never cached.
        """
        memo = current_memo()
        memo_key = self._memo_key(key)
        if memo is not None:
            remembered = memo.get(memo_key)
            if isinstance(remembered, Entry):
                self._count("memo", remembered.found)
                return remembered.value
            self._count("memo", None)
        entry = self._local_entry(key)
        if entry is None:
            entry = self._codec.decode(await self._fetch(key, load))
        if memo is not None:
            memo[memo_key] = entry
        return entry.value

    def _local_layer(self) -> LocalTTLCache | None:
        """The in-process layer if it may serve now (a new gate epoch empties it first)."""
        if self._local is None or self._gate is None:
            return self._local
        if self._gate.epoch != self._epoch:
            self._local.clear()
            self._epoch = self._gate.epoch
        return self._local if self._gate.is_open else None

    def _local_entry(self, key: CacheKey) -> Entry[T] | None:
        local = self._local_layer()
        if local is None:
            return None
        local_key = key.render()
        raw = local.get(local_key)
        if raw is None:
            self._count("local", None)
            return None
        try:
            entry = self._codec.decode(raw)
        except CacheDecodeError:
            self._metrics.errors_total.labels(cache=self.name, operation="decode").inc()
            local.delete(local_key)
            return None
        self._count("local", entry.found)
        return entry

    async def _fetch(self, key: CacheKey, load: Loader[T]) -> bytes:
        """The encoded entry from Redis or the loader; one fill per key at a time."""
        local_key = key.render()
        flight = self._flights.get(local_key)
        if flight is not None and flight.task is not None:
            self._metrics.coalesced_total.labels(cache=self.name).inc()
            return await asyncio.shield(flight.task)
        flight = _Flight(epoch=self._gate.epoch if self._gate is not None else 0)
        task = asyncio.create_task(self._fill(key, load, flight), name=f"cache-fill-{self.name}")
        flight.task = task
        self._flights[local_key] = flight

        def landed(done: asyncio.Task[bytes]) -> None:
            if self._flights.get(local_key) is flight:
                del self._flights[local_key]
            if not done.cancelled():
                done.exception()  # retrieved here, so an orphaned failure is not logged twice

        task.add_done_callback(landed)
        return await asyncio.shield(task)

    async def _fill(self, key: CacheKey, load: Loader[T], flight: _Flight) -> bytes:
        remote = self._remote
        if remote is None:
            return await self._load_and_store(key, None, load, flight)
        target = (remote, self._remote_key(remote, key))
        raw = await self._from_remote(key, target, flight, count=True)
        if raw is not None:
            return raw
        lock_key, token = f"{target[1]}:lock", secrets.token_hex(16)
        try:
            locked = await remote.try_lock(lock_key, token, self.policy.lock_ttl_s)
        except CacheBackendError:
            self._metrics.errors_total.labels(cache=self.name, operation="lock").inc()
            return await self._load_and_store(key, None, load, flight)
        if not locked:
            raw = await self._await_winner(key, target, flight)
            if raw is not None:
                return raw
            return await self._load_and_store(key, target, load, flight)
        try:
            return await self._load_and_store(key, target, load, flight)
        finally:
            try:
                await remote.unlock(lock_key, token)
            except CacheBackendError:
                self._metrics.errors_total.labels(cache=self.name, operation="lock").inc()

    async def _from_remote(
        self, key: CacheKey, target: tuple[RemoteStore, str], flight: _Flight, *, count: bool
    ) -> bytes | None:
        """A valid entry from Redis (kept locally too), or None (miss, tombstone, failure)."""
        remote, remote_key = target
        try:
            hit = await remote.get(remote_key)
        except CacheBackendError:
            self._metrics.errors_total.labels(cache=self.name, operation="get").inc()
            return None
        if hit is None or hit.value == TOMBSTONE:
            if count:
                self._count("redis", None)
            return None
        try:
            entry = self._codec.decode(hit.value)
        except CacheDecodeError:
            # Someone else's format or a corrupt value: bury it so it is reloaded.
            self._metrics.errors_total.labels(cache=self.name, operation="decode").inc()
            await self.bury(remote, [remote_key], self.policy.invalidation_hold_s)
            return None
        self._count("redis", entry.found)
        ttl = self._jittered(self.policy.local_cap())
        if hit.ttl_left_s is not None:
            ttl = min(ttl, hit.ttl_left_s)
        self._store_local(key, hit.value, ttl, flight)
        return hit.value

    async def _await_winner(
        self, key: CacheKey, target: tuple[RemoteStore, str], flight: _Flight
    ) -> bytes | None:
        """Wait (up to ``lock_wait_s``) for the holder of the fill lock to store the value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.policy.lock_wait_s
        while loop.time() < deadline:
            await asyncio.sleep(self.policy.lock_poll_s)
            raw = await self._from_remote(key, target, flight, count=False)
            if raw is not None:
                return raw
        return None

    async def _load_and_store(
        self,
        key: CacheKey,
        target: tuple[RemoteStore, str] | None,
        load: Loader[T],
        flight: _Flight,
    ) -> bytes:
        started = time.perf_counter()
        try:
            value = await load()
        except Exception:
            self._metrics.loads_total.labels(cache=self.name, outcome="error").inc()
            raise
        finally:
            self._metrics.load_duration_seconds.labels(cache=self.name).observe(
                time.perf_counter() - started
            )
        found = value is not None
        self._metrics.loads_total.labels(
            cache=self.name, outcome="found" if found else "absent"
        ).inc()
        raw = self._codec.encode(found, value)
        ttl = self.policy.ttl_for(found)
        if ttl <= 0 or flight.stale:
            return raw
        ttl = self._jittered(ttl)
        if target is not None:
            try:
                await target[0].fill(target[1], raw, ttl)
            except CacheBackendError:
                self._metrics.errors_total.labels(cache=self.name, operation="set").inc()
        self._store_local(key, raw, min(ttl, self._jittered(self.policy.local_cap())), flight)
        return raw

    def _store_local(self, key: CacheKey, raw: bytes, ttl_s: float, flight: _Flight) -> None:
        """Keep ``raw`` in-process unless an invalidation or a gate change overtook the fill."""
        local = self._local_layer()
        if flight.stale or local is None:
            return
        if self._gate is not None and self._gate.epoch != flight.epoch:
            return
        local.set(key.render(), raw, ttl_s)

    # -- invalidation -----------------------------------------------------------------------

    async def invalidate(
        self, keys: Iterable[CacheKey], *, source: str = "write", remote: bool = True
    ) -> bool:
        """Forget ``keys`` in every layer; never raises for a backend failure.

        In-process at once (this request's memo, the LRU, fills in flight: their result is
        still returned to their callers but no longer stored), then Redis, where each key
        becomes a short-lived tombstone that refuses fills loaded before the change.

        Args:
            keys: what a write changed.
            source: ``write`` (after this instance committed) or ``event`` (another instance
                did, as the invalidation listener learned); a metrics label.
            remote: False forgets in-process only (Redis already has the tombstones: the
                listener reading back this instance's own write).

        Returns:
            False when Redis could not be told (it keeps what it had until its TTL).
        """
        return await invalidate_together([(self, keys)], source=source, remote=remote)

    def forget_locally(self, keys: Iterable[CacheKey], *, source: str) -> list[CacheKey]:
        """The in-process part of :meth:`invalidate`; returns the distinct keys forgotten."""
        keys = list(dict.fromkeys(keys))
        memo = current_memo()
        for key in keys:
            if memo is not None:
                memo.pop(self._memo_key(key), None)
            if self._local is not None:
                self._local.delete(key.render())
            flight = self._flights.pop(key.render(), None)
            if flight is not None:
                flight.stale = True
        if keys:
            self._metrics.invalidations_total.labels(cache=self.name, source=source).inc(len(keys))
        return keys

    def remote_names(self, keys: Iterable[CacheKey]) -> tuple[RemoteStore, list[str]] | None:
        """The Redis store and key names of ``keys`` (None: this cache has no shared layer)."""
        remote = self._remote
        if remote is None:
            return None
        return remote, [self._remote_key(remote, key) for key in keys]

    async def bury(self, remote: RemoteStore, remote_keys: list[str], hold_s: float) -> bool:
        """Tombstone ``remote_keys`` in ``remote`` for ``hold_s``; False when it failed."""
        try:
            await remote.invalidate(remote_keys, hold_s)
        except CacheBackendError:
            # Redis keeps what it had until its TTL: that TTL is the bound while Redis fails.
            self._metrics.errors_total.labels(cache=self.name, operation="invalidate").inc()
            log.warning("cache_invalidation_failed", cache=self.name, keys=len(remote_keys))
            return False
        return True

    # -- helpers ----------------------------------------------------------------------------

    def _jittered(self, seconds: float) -> float:
        return jittered(seconds, self.policy.jitter, self._rand)

    def _count(self, layer: str, found: bool | None) -> None:
        result = "miss" if found is None else ("hit" if found else "negative_hit")
        self._metrics.requests_total.labels(cache=self.name, layer=layer, result=result).inc()


async def invalidate_together(
    parts: Iterable[tuple[LayeredCache[Any], Iterable[CacheKey]]],
    *,
    source: str = "write",
    remote: bool = True,
) -> bool:
    """Forget keys of several caches: in-process each, then one Redis round trip per store.

    One write often changes items of several caches (a stock change: a product and its stock
    level); their tombstones go to Redis in one pipeline, held the longest of the caches'
    ``invalidation_hold_s`` (a longer hold only refuses stale fills a little longer).
    Returns False when a store could not be told.
    """
    by_store: dict[int, tuple[LayeredCache[Any], RemoteStore, list[str], float]] = {}
    for cache, keys in parts:
        unique = cache.forget_locally(keys, source=source)
        target = cache.remote_names(unique) if remote and unique else None
        if target is None:
            continue
        store, names = target
        first, _, held_names, hold = by_store.setdefault(id(store), (cache, store, [], 0.0))
        held_names.extend(names)
        hold = max(hold, cache.policy.invalidation_hold_s)
        by_store[id(store)] = (first, store, held_names, hold)
    told = True
    for first, store, names, hold in by_store.values():
        told = await first.bury(store, names, hold) and told
    return told
