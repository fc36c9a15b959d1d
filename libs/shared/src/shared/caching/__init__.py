"""Layered read caching: per-request memo, in-process TTL/LRU, Redis; invalidated on write.

::

    cache = LayeredCache("product", codec=JsonCodec(dump=..., load=...),
                         policy=CachePolicy(ttl_s=60, negative_ttl_s=5),
                         remote=RedisCacheStore(redis, prefix="ordo:catalog:cache:"), gate=gate)
    product = await cache.get(CacheKey(str(org_id), str(product_id)), load_product)
    ...
    await uow.commit()
    await cache.invalidate([CacheKey(str(org_id), str(product_id))])   # after the commit

Layers, first hit wins:

1. **Request memo** (:func:`memo_scope`, :class:`RequestMemoMiddleware`): the same key twice
   in one request is one lookup and the same object.
2. **In-process TTL + LRU** (bounded by ``local_max_entries``): holds encoded bytes, so every
   hit decodes a private copy. Never outlives the Redis entry it was filled from.
3. **Redis** (one prefix per service, then cache name, codec version, tenant, id:
   ``ordo:catalog:cache:product:v1:<org>:<id>``), shared by every instance.

Rules it enforces:

- **Explicit TTLs, jittered.** Every cache has a :class:`CachePolicy` with its own TTL (and a
  separate TTL for cached absence); every stored TTL is scaled by a random factor in
  ``[1 - jitter, 1 + jitter]`` (default 15 %) so entries filled together expire apart.
- **Stampede protection.** In one process, concurrent misses of a key share one load
  (single flight); across instances, the first to miss takes a short Redis lock (``SET NX PX``)
  and the others poll Redis for its value for up to ``lock_wait_s`` before loading themselves.
  A lock was preferred over probabilistic early refresh because it also covers cold keys and
  the burst right after an invalidation, which early refresh does not.
- **Negative results** (the loader returns None) are cached only when ``negative_ttl_s > 0``,
  under their own short TTL, and are invalidated like values (a create invalidates the key).
- **Safe serialization**: JSON envelopes through :class:`JsonCodec`, never pickle; an entry
  that does not decode is a miss (and is buried).
- **Failures degrade.** Every Redis command has a deadline (100 ms by default) and goes
  through a circuit breaker; any failure is counted and the cache falls back to the next layer
  or the loader. A request never fails because of its cache; loader errors are never cached.
- **Metrics**: hits/misses per layer, loads, coalesced waits, errors, invalidations
  (:class:`CacheMetrics`).

Invalidation: deletes with tombstones, not versioned keys. After a write commits, the writer
calls :meth:`LayeredCache.invalidate`: the key leaves its own memo and LRU at once, loads in
flight for it are marked stale (their result is returned but not stored), and in Redis the key
becomes a tombstone for ``invalidation_hold_s`` which fills (``SET NX``) cannot overwrite, so a
slow load that read the database before the commit cannot put the old value back. Other
instances learn of the write from the service's own event topic through a
:class:`CacheInvalidationListener` and invalidate the same keys (in-process and in Redis);
while a listener cannot follow its topic, its :class:`LocalCacheGate` keeps the in-process
layer closed. So an instance serves another instance's stale value at most for the event lag,
and never longer than the TTL whatever fails. Versioned keys (a per-entity version read on
every lookup) were not chosen: they cost a Redis round trip per read, which is what the
in-process layer exists to avoid, and they still need the events to reach other instances'
in-process entries.
"""

from shared.caching._codec import CacheDecodeError, Entry, JsonCodec
from shared.caching._gate import LocalCacheGate
from shared.caching._keys import CacheKey
from shared.caching._layered import LayeredCache, Loader, invalidate_together
from shared.caching._listener import CacheInvalidationListener, ChangeEvent, OnChange
from shared.caching._local import LocalTTLCache
from shared.caching._memo import RequestMemoMiddleware, current_memo, memo_scope
from shared.caching._metrics import CacheMetrics, default_cache_metrics
from shared.caching._policy import CachePolicy, jittered
from shared.caching._redis import check_redis, create_redis
from shared.caching._store import (
    TOMBSTONE,
    CacheBackendError,
    RedisCacheStore,
    RemoteHit,
    RemoteStore,
)

__all__ = [
    "TOMBSTONE",
    "CacheBackendError",
    "CacheDecodeError",
    "CacheInvalidationListener",
    "CacheKey",
    "CacheMetrics",
    "CachePolicy",
    "ChangeEvent",
    "Entry",
    "JsonCodec",
    "LayeredCache",
    "Loader",
    "LocalCacheGate",
    "LocalTTLCache",
    "OnChange",
    "RedisCacheStore",
    "RemoteHit",
    "RemoteStore",
    "RequestMemoMiddleware",
    "check_redis",
    "create_redis",
    "current_memo",
    "default_cache_metrics",
    "invalidate_together",
    "jittered",
    "memo_scope",
]
