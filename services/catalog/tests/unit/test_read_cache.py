"""Cached reads and what invalidates them, without IO: the use cases through bootstrap with
catalog's real caches (in-process layer only), and the event -> touched items mapping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from catalog.adapters.caching.invalidation import Touched, UnknownCatalogEventError, touched_by
from catalog.adapters.caching.read_cache import READ_CACHE_FLAG, CatalogCaches
from catalog.adapters.messaging.events import EVENT_TYPES, to_message
from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.bootstrap import bootstrap
from catalog.domain.errors import ProductNotFoundError
from catalog.domain.model import Money, Product, StockItem
from catalog.domain.reservation import reserve
from catalog.domain.values import RequestedLine
from shared.caching import (
    CacheBackendError,
    CacheMetrics,
    CachePolicy,
    ChangeEvent,
    LocalCacheGate,
    RemoteStore,
)
from shared.clock import FrozenClock
from shared.flags import StaticFlags
from shared.outbox import OutboxMessage

from .conftest import FakeUnitOfWork, Store, principal_of


@pytest.fixture
def caches() -> CatalogCaches:
    """Catalog's caches with only the in-process layer (the gate open: no listener here)."""
    policy = CachePolicy(ttl_s=60, negative_ttl_s=5)
    return CatalogCaches(
        product=policy,
        stock=policy,
        remote=None,
        gate=LocalCacheGate(open=True),
        metrics=CacheMetrics(CollectorRegistry()),
    )


@pytest.fixture
def cached(store: Store, clock: FrozenClock, caches: CatalogCaches) -> CatalogUseCases:
    return bootstrap(uow=lambda: FakeUnitOfWork(store), clock=clock, cache=caches)


async def test_reads_are_served_from_the_cache_until_it_is_invalidated(
    cached: CatalogUseCases, store: Store, caches: CatalogCaches, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    product = await cached.create_product(
        writer, CreateProductInput(org_id, "C-1", "Cached", Money(100, "EUR"))
    )
    await cached.get_product(writer, org_id=org_id, product_id=product.id)
    opened = store.opened
    for _ in range(3):
        got, _stock = await cached.get_product(writer, org_id=org_id, product_id=product.id)
        _p, level = await cached.get_stock_level(writer, org_id=org_id, sku="C-1")
    assert store.opened == opened  # no transaction for cached reads
    assert got.price == Money(100, "EUR")

    # The fake unit of work tells no cache: the write is invisible until invalidated.
    await cached.update_price(writer, org_id=org_id, product_id=product.id, price=Money(5, "EUR"))
    stale, _ = await cached.get_product(writer, org_id=org_id, product_id=product.id)
    assert stale.price == Money(100, "EUR")
    changed = [to_message(event) for event in store.events[-1:]]
    await caches.after_commit(changed)
    fresh, _ = await cached.get_product(writer, org_id=org_id, product_id=product.id)
    assert (fresh.price, fresh.version) == (Money(5, "EUR"), 2)
    assert level.on_hand == 0


async def test_another_org_never_reads_an_entry_and_is_authorized_first(
    cached: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    product = await cached.create_product(
        writer, CreateProductInput(org_id, "C-1", "Cached", Money(100, "EUR"))
    )
    await cached.get_product(writer, org_id=org_id, product_id=product.id)
    stranger = uuid.uuid4()
    with pytest.raises(ProductNotFoundError):
        await cached.get_product(principal_of(stranger), org_id=stranger, product_id=product.id)
    with pytest.raises(ProductNotFoundError):
        await cached.get_stock_level(principal_of(stranger), org_id=stranger, sku="C-1")
    opened = store.opened
    with pytest.raises(ProductNotFoundError):  # a token of another org, this org's id
        await cached.get_product(principal_of(stranger), org_id=org_id, product_id=product.id)
    assert store.opened == opened


async def test_a_cached_absence_ends_with_the_create(
    cached: CatalogUseCases, store: Store, caches: CatalogCaches, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    with pytest.raises(ProductNotFoundError):
        await cached.get_stock_level(writer, org_id=org_id, sku="LATE-1")
    await cached.create_product(writer, CreateProductInput(org_id, "LATE-1", "L", Money(1, "EUR")))
    with pytest.raises(ProductNotFoundError):  # absence still cached (no invalidation yet)
        await cached.get_stock_level(writer, org_id=org_id, sku="LATE-1")
    await caches.on_change(
        ChangeEvent(
            EVENT_TYPES[type(store.events[-1])],
            str(org_id),
            None,
            to_message(store.events[-1]).payload,
        )
    )
    _product, stock = await cached.get_stock_level(writer, org_id=org_id, sku="LATE-1")
    assert stock.on_hand == 0


def test_every_catalog_event_maps_to_the_items_it_touches(org_id: uuid.UUID) -> None:
    clock = FrozenClock()
    product = Product.create(
        id=uuid.uuid4(), org_id=org_id, sku="M-1", name="M", price=Money(1, "EUR"), now=clock.now()
    )
    stock = StockItem(product.id, org_id, "M-1", on_hand=5)
    product.change_price(Money(2, "EUR"), clock.now())
    stock.change_on_hand(
        product, on_hand=6, reason="r", set_=False, by=uuid.uuid4(), now=clock.now()
    )
    outcome = reserve(
        org_id=org_id,
        order_id=uuid.uuid4(),
        currency="EUR",
        lines=[RequestedLine("M-1", 2)],
        catalog={"M-1": (product, stock)},
        causation_id=uuid.uuid4(),
        now=clock.now(),
        new_id=uuid.uuid4,
    )
    assert not isinstance(outcome, Exception)
    events: list[Any] = [*product.pull_events(), *stock.pull_events()]
    events += outcome.pull_events()  # type: ignore[union-attr]
    outcome.release({"M-1": stock}, uuid.uuid4(), clock.now())  # type: ignore[union-attr]
    events += outcome.pull_events()  # type: ignore[union-attr]
    rejected = reserve(
        org_id=org_id,
        order_id=uuid.uuid4(),
        currency="EUR",
        lines=[RequestedLine("NOPE", 1)],
        catalog={},
        causation_id=uuid.uuid4(),
        now=clock.now(),
        new_id=uuid.uuid4,
    )
    events.append(rejected)
    touched = Touched(org_id, product.id, "M-1")
    seen = set()
    for event in events:
        message = to_message(event)
        seen.add(message.type)
        expected = [] if message.type.endswith("stock.rejected.v1") else [touched]
        assert touched_by(message.type, message.payload) == expected, message.type
    assert seen == set(EVENT_TYPES.values()) - {"ordo.catalog.stock.committed.v1"}
    committed = {"org_id": str(org_id), "lines": [{"product_id": str(product.id), "sku": "M-1"}]}
    assert touched_by("ordo.catalog.stock.committed.v1", committed) == [touched]


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [
        ("ordo.catalog.product.renamed.v1", {"org_id": str(uuid.uuid4())}),
        ("ordo.catalog.product.price_changed.v1", {"org_id": "not-a-uuid"}),
        ("ordo.catalog.stock.reserved.v1", {"org_id": str(uuid.uuid4()), "lines": [{}]}),
        ("ordo.catalog.product.created.v1", None),
    ],
)
def test_an_unknown_or_unreadable_event_is_an_error_not_a_no_op(
    event_type: str, payload: Any
) -> None:
    with pytest.raises(UnknownCatalogEventError):
        touched_by(event_type, payload)


async def test_the_read_cache_flag_turns_the_cache_off_for_one_tenant_at_run_time(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    flags = StaticFlags()
    policy = CachePolicy(ttl_s=60, negative_ttl_s=5)
    caches = CatalogCaches(
        product=policy,
        stock=policy,
        remote=None,
        gate=LocalCacheGate(open=True),
        metrics=CacheMetrics(CollectorRegistry()),
        flags=flags,
    )
    cached = bootstrap(uow=lambda: FakeUnitOfWork(store), clock=clock, cache=caches)
    writer = principal_of(org_id)
    product = await cached.create_product(
        writer, CreateProductInput(org_id, "F-1", "Flagged", Money(100, "EUR"))
    )
    await cached.get_product(writer, org_id=org_id, product_id=product.id)
    # The fake unit of work tells no cache: with the cache on, the new price is not seen.
    await cached.update_price(writer, org_id=org_id, product_id=product.id, price=Money(7, "EUR"))
    stale, _ = await cached.get_product(writer, org_id=org_id, product_id=product.id)
    assert stale.price == Money(100, "EUR")

    flags.set(READ_CACHE_FLAG, False, org_id=org_id)  # flipped while the process runs
    opened = store.opened
    fresh, _ = await cached.get_product(writer, org_id=org_id, product_id=product.id)
    assert fresh.price == Money(7, "EUR")
    assert store.opened > opened  # read from the database, not the cache

    flags.set(READ_CACHE_FLAG, True, org_id=org_id)  # back on: the cached entry again
    again, _ = await cached.get_product(writer, org_id=org_id, product_id=product.id)
    assert again.price == Money(100, "EUR")


class CountingRemote:
    """A shared layer that only counts its invalidation round trips (and can fail them)."""

    def __init__(self) -> None:
        self.invalidations: list[list[str]] = []
        self.failing = False

    def key(self, name: str) -> str:
        return f"catalog:{name}"

    async def invalidate(self, keys: Sequence[str], hold_s: float) -> None:
        self.invalidations.append(list(keys))
        if self.failing:
            raise CacheBackendError("invalidate")


def _committed(org_id: uuid.UUID) -> OutboxMessage:
    payload = {
        "org_id": str(org_id),
        "lines": [
            {"product_id": str(uuid.uuid4()), "sku": "A-1"},
            {"product_id": str(uuid.uuid4()), "sku": "B-2"},
        ],
    }
    return OutboxMessage(
        topic="catalog.events",
        key=str(uuid.uuid4()),
        type="ordo.catalog.stock.committed.v1",
        payload=payload,
    )


def _read_back(message: OutboxMessage, *, event_id: str | None = None) -> ChangeEvent:
    ce_id = str(message.event_id) if event_id is None else event_id
    return ChangeEvent(message.type, None, message.key, message.payload, ce_id)


async def test_a_write_tells_redis_once_and_its_own_event_read_back_does_not_again(
    org_id: uuid.UUID,
) -> None:
    remote = CountingRemote()
    policy = CachePolicy(ttl_s=60, negative_ttl_s=5)
    caches = CatalogCaches(
        product=policy,
        stock=policy,
        remote=cast(RemoteStore, remote),
        gate=LocalCacheGate(open=True),
        metrics=CacheMetrics(CollectorRegistry()),
    )
    mine = _committed(org_id)
    await caches.after_commit([mine])
    # Both caches' keys of both lines, in one round trip.
    assert [len(keys) for keys in remote.invalidations] == [4]
    assert await caches.on_change(_read_back(mine)) is True
    assert len(remote.invalidations) == 1  # already buried by this instance's commit
    # Another instance's event (an id this one never wrote) is buried here too.
    assert await caches.on_change(_read_back(_committed(org_id))) is True
    assert len(remote.invalidations) == 2
    # When Redis could not be told after the commit, the event read back tells it again.
    remote.failing = True
    failed = _committed(org_id)
    await caches.after_commit([failed])
    remote.failing = False
    await caches.on_change(_read_back(failed))
    assert [len(keys) for keys in remote.invalidations] == [4, 4, 4, 4]


async def test_an_event_read_back_while_its_write_still_tells_redis_is_not_told_twice(
    org_id: uuid.UUID,
) -> None:
    # The relay publishes at the commit's ring: the listener can read the event back before
    # after_commit's own Redis call has returned.
    remote = CountingRemote()
    release = asyncio.Event()
    told = remote.invalidate

    async def slow(keys: Sequence[str], hold_s: float) -> None:
        await release.wait()
        await told(keys, hold_s)

    remote.invalidate = slow  # type: ignore[method-assign]
    policy = CachePolicy(ttl_s=60, negative_ttl_s=5)
    caches = CatalogCaches(
        product=policy,
        stock=policy,
        remote=cast(RemoteStore, remote),
        gate=LocalCacheGate(open=True),
        metrics=CacheMetrics(CollectorRegistry()),
    )
    mine = _committed(org_id)
    writing = asyncio.create_task(caches.after_commit([mine]))
    await asyncio.sleep(0)  # after_commit now waits for Redis
    async with asyncio.timeout(2):  # telling Redis again would wait here (and fail the test)
        assert await caches.on_change(_read_back(mine)) is True
    release.set()
    await writing
    assert len(remote.invalidations) == 1
