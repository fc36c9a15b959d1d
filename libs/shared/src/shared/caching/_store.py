"""The Redis layer: namespaced keys, a deadline on every command, a breaker while Redis fails.

Every failure (connection refused, timeout, auth, an open breaker) surfaces as one
:class:`CacheBackendError`; the layered cache counts it and carries on without Redis, so a
Redis outage costs latency (bounded by the deadline, then by the open breaker: nothing) and
database load, never a failed request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from redis.asyncio import Redis

from shared.observability.metrics import Metrics
from shared.resilience.breaker import AsyncCircuitBreaker
from shared.resilience.timeouts import with_timeout

__all__ = ["TOMBSTONE", "CacheBackendError", "RedisCacheStore", "RemoteHit", "RemoteStore"]

T = TypeVar("T")

TOMBSTONE = b"\x00ordo-cache-tombstone"
"""What an invalidated key holds for a while: fills (``SET NX``) cannot overwrite it."""

# Delete the lock only if it is still ours: it may have expired and been taken by another.
_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


class CacheBackendError(Exception):
    """A shared cache operation failed (the caller degrades; never shown to API callers)."""

    def __init__(self, operation: str) -> None:
        super().__init__(f"cache backend {operation} failed")
        self.operation = operation


@dataclass(frozen=True, slots=True)
class RemoteHit:
    """A value found in the shared layer and the seconds it has left there (None: no TTL)."""

    value: bytes
    ttl_left_s: float | None


class RemoteStore(Protocol):
    """The shared cache layer a :class:`~shared.caching.LayeredCache` talks to."""

    def key(self, name: str) -> str:
        """The backend key of a cache-relative ``name`` (adds the service prefix)."""
        ...

    async def get(self, key: str) -> RemoteHit | None:
        """The value and its remaining TTL, or None. Raises CacheBackendError."""
        ...

    async def fill(self, key: str, value: bytes, ttl_s: float) -> bool:
        """Store ``value`` for ``ttl_s`` unless the key holds anything (a value or a tombstone).

        Returns whether it was stored. Raises CacheBackendError.
        """
        ...

    async def invalidate(self, keys: Sequence[str], hold_s: float) -> None:
        """Replace ``keys`` by tombstones that live ``hold_s``. Raises CacheBackendError."""
        ...

    async def try_lock(self, key: str, token: str, ttl_s: float) -> bool:
        """Take the lock ``key`` for ``ttl_s`` unless taken. Raises CacheBackendError."""
        ...

    async def unlock(self, key: str, token: str) -> None:
        """Release the lock if ``token`` still holds it. Raises CacheBackendError."""
        ...


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


class RedisCacheStore:
    """:class:`RemoteStore` on Redis.

    Args:
        redis: the service's client (``shared.caching.create_redis``); its pool is shared.
        prefix: namespace of every key, e.g. ``ordo:catalog:cache:`` (one per service; tests
            use a unique one). Cache names, tenants and ids follow it.
        timeout_s: the deadline of each command: a cache that answers slower than the database
            is not worth waiting for.
        breaker: skips Redis entirely while it keeps failing (default: opens after 5
            consecutive failures, probes again after 5 s).
        metrics: where the default breaker reports its state.
    """

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str,
        timeout_s: float = 0.1,
        breaker: AsyncCircuitBreaker | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        if not prefix:
            raise ValueError("a Redis cache needs a key prefix (one per service)")
        self._redis = redis
        self.prefix = prefix
        self._timeout_s = timeout_s
        self._breaker = breaker or AsyncCircuitBreaker(
            "redis-cache", fail_max=5, reset_timeout_s=5.0, metrics=metrics
        )
        self._unlock = redis.register_script(_UNLOCK)

    def key(self, name: str) -> str:
        """``<prefix><name>``."""
        return f"{self.prefix}{name}"

    async def _run(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        async def timed() -> T:
            return await with_timeout(call(), self._timeout_s, operation=f"redis.{operation}")

        try:
            return await self._breaker.call(timed)
        except Exception as exc:
            raise CacheBackendError(operation) from exc

    async def get(self, key: str) -> RemoteHit | None:
        """GET and PTTL in one round trip."""

        async def call() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.pttl(key)
                return await pipe.execute()

        value, pttl = await self._run("get", call)
        if value is None:
            return None
        return RemoteHit(bytes(value), pttl / 1000 if pttl is not None and pttl >= 0 else None)

    async def fill(self, key: str, value: bytes, ttl_s: float) -> bool:
        """SET NX PX."""
        stored = await self._run("set", lambda: self._redis.set(key, value, nx=True, px=_ms(ttl_s)))
        return bool(stored)

    async def invalidate(self, keys: Sequence[str], hold_s: float) -> None:
        """SET <tombstone> PX for each key, pipelined (nothing to do for no keys)."""
        if not keys:
            return

        async def call() -> list[Any]:
            async with self._redis.pipeline(transaction=False) as pipe:
                for key in keys:
                    pipe.set(key, TOMBSTONE, px=_ms(hold_s))
                return await pipe.execute()

        await self._run("invalidate", call)

    async def try_lock(self, key: str, token: str, ttl_s: float) -> bool:
        """SET NX PX."""
        taken = await self._run("lock", lambda: self._redis.set(key, token, nx=True, px=_ms(ttl_s)))
        return bool(taken)

    async def unlock(self, key: str, token: str) -> None:
        """Compare-and-delete (a Lua script)."""
        await self._run("lock", lambda: self._unlock(keys=[key], args=[token]))
