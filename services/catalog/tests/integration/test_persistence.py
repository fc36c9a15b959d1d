"""Use cases on PostgreSQL: every query scoped by org, events in the outbox, saga idempotency."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.commit_reservation import CommitReservationInput
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.application.use_cases.release_reservation import ReleaseReservationInput
from catalog.application.use_cases.reserve_for_order import ReserveForOrderInput
from catalog.domain.errors import ProductNotFoundError, SkuTakenError
from catalog.domain.model import Money, RequestedLine
from catalog.domain.reservation import ReservationStatus
from shared.auth.principal import Role

from .conftest import outbox_types, principal_of

pytestmark = pytest.mark.integration


async def test_products_are_scoped_by_org(catalog: CatalogUseCases, org_id: uuid.UUID) -> None:
    other = uuid.uuid4()
    mine = await catalog.create_product(
        principal_of(org_id), CreateProductInput(org_id, "SKU-1", "One", Money(100, "EUR"))
    )
    await catalog.create_product(
        principal_of(other), CreateProductInput(other, "SKU-1", "Theirs", Money(100, "EUR"))
    )
    with pytest.raises(SkuTakenError):
        await catalog.create_product(
            principal_of(org_id), CreateProductInput(org_id, "SKU-1", "Dup", Money(1, "EUR"))
        )
    with pytest.raises(ProductNotFoundError):
        await catalog.get_product(principal_of(other), org_id=other, product_id=mine.id)
    with pytest.raises(ProductNotFoundError):
        await catalog.update_price(
            principal_of(other), org_id=other, product_id=mine.id, price=Money(1, "EUR")
        )
    # The same SKU in another org is another product: setting theirs leaves mine alone.
    await catalog.change_stock.set(principal_of(other), org_id=other, sku=mine.sku, on_hand=5)
    _, stock = await catalog.get_stock_level(principal_of(org_id), org_id=org_id, sku=mine.sku)
    assert stock.on_hand == 0
    page = await catalog.list_products(
        principal_of(org_id, Role.VIEWER), org_id=org_id, cursor=None
    )
    assert [p.name for p in page.items] == ["One"]
    with pytest.raises(ProductNotFoundError):
        await catalog.get_stock_level(principal_of(other), org_id=other, sku="NOT-THERE")


async def test_product_changes_reach_the_outbox_in_order(
    catalog: CatalogUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    product = await catalog.create_product(
        writer, CreateProductInput(org_id, "SKU-2", "Two", Money(100, "EUR"))
    )
    await catalog.update_price(
        writer, org_id=org_id, product_id=product.id, price=Money(150, "EUR")
    )
    await catalog.change_stock.set(writer, org_id=org_id, sku=product.sku, on_hand=4)
    got, stock = await catalog.get_product(writer, org_id=org_id, product_id=product.id)
    assert (got.version, got.price, stock.on_hand) == (3, Money(150, "EUR"), 4)
    assert await outbox_types(engine, product.id) == [
        "ordo.catalog.product.created.v1",
        "ordo.catalog.product.price_changed.v1",
        "ordo.catalog.stock.level_changed.v1",
    ]


async def test_reserve_release_commit_on_postgres(
    catalog: CatalogUseCases, engine: AsyncEngine, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    product = await catalog.create_product(
        writer, CreateProductInput(org_id, "SKU-3", "Three", Money(700, "EUR"))
    )
    await catalog.change_stock.set(writer, org_id=org_id, sku=product.sku, on_hand=5)
    kept, dropped = uuid.uuid4(), uuid.uuid4()
    for order in (kept, dropped):
        held = await catalog.reserve_for_order(
            ReserveForOrderInput(org_id, order, "EUR", [RequestedLine("SKU-3", 2)], uuid.uuid4())
        )
        assert held is not None
    again = await catalog.reserve_for_order(  # a repeated order.placed: same reservation
        ReserveForOrderInput(org_id, kept, "EUR", [RequestedLine("SKU-3", 2)], uuid.uuid4())
    )
    assert again is not None
    for _ in range(2):
        await catalog.release_reservation(ReleaseReservationInput(org_id, dropped, uuid.uuid4()))
        done = await catalog.commit_reservation(CommitReservationInput(org_id, kept, uuid.uuid4()))
    assert done.status is ReservationStatus.COMMITTED
    _, stock = await catalog.get_product(writer, org_id=org_id, product_id=product.id)
    assert (stock.on_hand, stock.reserved) == (3, 0)
    assert await outbox_types(engine, kept) == [
        "ordo.catalog.stock.reserved.v1",
        "ordo.catalog.stock.reserved.v1",
        "ordo.catalog.stock.committed.v1",
        "ordo.catalog.stock.committed.v1",
    ]
    assert await outbox_types(engine, dropped) == [
        "ordo.catalog.stock.reserved.v1",
        "ordo.catalog.stock.released.v1",
        "ordo.catalog.stock.released.v1",
    ]
