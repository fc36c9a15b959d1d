"""Catalog's read caches: products by id, stock levels by SKU, keyed by org.

The feature flag ``catalog.read-cache`` (docs/flags.md) turns them off for one tenant, or
all, at run time: its reads then go to the database every time. A kill switch for a tenant
that must see every write at once, or for a cache suspected of serving stale data.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence

import structlog

from catalog.adapters.caching.codecs import PRODUCT_CODEC, STOCK_LEVEL_CODEC
from catalog.adapters.caching.invalidation import Touched, touched_by
from catalog.application.ports import StockLevel
from catalog.domain.model import Product
from shared.caching import (
    CacheKey,
    CacheMetrics,
    CachePolicy,
    ChangeEvent,
    LayeredCache,
    LocalCacheGate,
    RemoteStore,
    invalidate_together,
)
from shared.flags import FeatureFlags, StaticFlags
from shared.outbox import OutboxMessage

__all__ = ["READ_CACHE_FLAG", "CatalogCaches", "UncachedReads"]

log = structlog.get_logger(__name__)

READ_CACHE_FLAG = "catalog.read-cache"


class CatalogCaches:
    """Implements ``CatalogReadCache`` on two layered caches, and invalidates them.

    Args:
        product: TTLs and sizes of the product cache.
        stock: TTLs and sizes of the stock-level cache.
        remote: the shared Redis layer (None: in-process only).
        gate: closes the in-process layers while the invalidation listener is not following
            (the listener opens and closes it; a process without one keeps it as created).
        metrics: the caches' metrics (process default if None).
        flags: where ``catalog.read-cache`` is read, per org (default: on for everyone).
    """

    def __init__(
        self,
        *,
        product: CachePolicy,
        stock: CachePolicy,
        remote: RemoteStore | None,
        gate: LocalCacheGate,
        metrics: CacheMetrics | None = None,
        flags: FeatureFlags | None = None,
    ) -> None:
        self.gate = gate
        self.flags = flags or StaticFlags()
        self._buried = _RecentIds()
        self.products = LayeredCache[Product](
            "product",
            codec=PRODUCT_CODEC,
            policy=product,
            remote=remote,
            gate=gate,
            metrics=metrics,
        )
        self.stock = LayeredCache[StockLevel](
            "stock",
            codec=STOCK_LEVEL_CODEC,
            policy=stock,
            remote=remote,
            gate=gate,
            metrics=metrics,
        )

    async def product(
        self,
        *,
        org_id: uuid.UUID,
        product_id: uuid.UUID,
        load: Callable[[], Awaitable[Product | None]],
    ) -> Product | None:
        """The org's product, through the cache (unless the org's cache is flagged off)."""
        if not self.flags.enabled(READ_CACHE_FLAG, org_id=org_id, default=True):
            return await load()
        return await self.products.get(CacheKey(str(org_id), str(product_id)), load)

    async def stock_level(
        self,
        *,
        org_id: uuid.UUID,
        sku: str,
        load: Callable[[], Awaitable[StockLevel | None]],
    ) -> StockLevel | None:
        """The org's stock level of ``sku``, through the cache (unless flagged off)."""
        if not self.flags.enabled(READ_CACHE_FLAG, org_id=org_id, default=True):
            return await load()
        return await self.stock.get(CacheKey(str(org_id), sku), load)

    async def forget(self, touched: Iterable[Touched], *, source: str, remote: bool = True) -> bool:
        """Invalidate the products and stock levels ``touched`` names (one Redis round trip).

        Returns False when Redis could not be told.
        """
        items = list(dict.fromkeys(touched))
        if not items:
            return True
        return await invalidate_together(
            [
                (self.products, [CacheKey(str(t.org_id), str(t.product_id)) for t in items]),
                (self.stock, [CacheKey(str(t.org_id), t.sku) for t in items]),
            ],
            source=source,
            remote=remote,
        )

    async def after_commit(self, messages: Sequence[OutboxMessage]) -> None:
        """Invalidate what a committed transaction's events touched (its own instance, Redis)."""
        touched: list[Touched] = []
        for message in messages:
            try:
                touched.extend(touched_by(message.type, message.payload))
            except ValueError:
                log.exception("cache_invalidation_unmapped", type=message.type)
        # Remembered before Redis is told: the relay publishes as soon as the commit rings it,
        # and the listener reading the event back must find its id even while this call
        # still waits for Redis. Should Redis fail, the ids are forgotten again, so an event
        # read back later tells Redis itself (one read back meanwhile leaves Redis to its TTL,
        # the bound whenever Redis fails).
        ids = [str(message.event_id) for message in messages]
        self._buried.remember(ids)
        if not await self.forget(touched, source="write"):
            self._buried.discard(ids)

    async def on_change(self, event: ChangeEvent) -> bool:
        """The listener's mapping: invalidate what an event of ``catalog.events`` touched.

        An event of this instance's own commit is already buried in Redis (``after_commit``):
        only the in-process layers are told again, which saves a Redis round trip per event.
        """
        touched = touched_by(event.type, event.data)
        own = event.id is not None and self._buried.take(event.id)
        await self.forget(touched, source="event", remote=not own)
        return bool(touched)


class _RecentIds:
    """Ids of the events this instance has buried in Redis, until the listener reads them back.

    Bounded (oldest forgotten first): an id that fell out only costs one Redis round trip more.
    """

    def __init__(self, limit: int = 4096) -> None:
        self._ids: dict[str, None] = {}
        self._limit = limit

    def remember(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self._ids[event_id] = None
        while len(self._ids) > self._limit:
            del self._ids[next(iter(self._ids))]

    def discard(self, ids: Iterable[str]) -> None:
        for event_id in ids:
            self._ids.pop(event_id, None)

    def take(self, event_id: str) -> bool:
        if event_id not in self._ids:
            return False
        del self._ids[event_id]
        return True


class UncachedReads:
    """``CatalogReadCache`` that always loads (caching off, and the default of ``bootstrap``)."""

    async def product(
        self,
        *,
        org_id: uuid.UUID,
        product_id: uuid.UUID,
        load: Callable[[], Awaitable[Product | None]],
    ) -> Product | None:
        """``load()``."""
        return await load()

    async def stock_level(
        self,
        *,
        org_id: uuid.UUID,
        sku: str,
        load: Callable[[], Awaitable[StockLevel | None]],
    ) -> StockLevel | None:
        """``load()``."""
        return await load()
