"""Product and stock use cases through bootstrap on fakes: rules, roles, tenancy."""

from __future__ import annotations

import uuid

import pytest

from catalog.application.facade import CatalogUseCases
from catalog.application.ports import ProductFilter
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.domain.errors import (
    InvalidQuantityError,
    ProductCurrencyChangeError,
    ProductNotFoundError,
    ProductVersionConflictError,
    SkuTakenError,
    StockVersionConflictError,
)
from catalog.domain.events import ProductCreated, ProductPriceChanged, StockLevelChanged
from catalog.domain.model import Money, Product
from shared.auth.principal import Role
from shared.errors import PermissionDeniedError, ValidationError

from .conftest import Store, principal_of


async def create(catalog: CatalogUseCases, org_id: uuid.UUID, sku: str = "WIDGET-1") -> Product:
    return await catalog.create_product(
        principal_of(org_id), CreateProductInput(org_id, sku, "Widget", Money(1999, "EUR"))
    )


async def test_create_product_emits_product_created_and_starts_with_no_stock(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    product = await create(catalog, org_id)
    got, stock = await catalog.get_product(
        principal_of(org_id, Role.VIEWER), org_id=org_id, product_id=product.id
    )
    assert got.sku == "WIDGET-1"
    assert got.version == 1
    assert (stock.on_hand, stock.reserved) == (0, 0)
    assert [type(e) for e in store.events] == [ProductCreated]


async def test_a_sku_is_unique_per_org_not_globally(
    catalog: CatalogUseCases, org_id: uuid.UUID
) -> None:
    await create(catalog, org_id)
    with pytest.raises(SkuTakenError):
        await create(catalog, org_id)
    await create(catalog, uuid.uuid4())


async def test_viewers_read_but_do_not_write(catalog: CatalogUseCases, org_id: uuid.UUID) -> None:
    viewer = principal_of(org_id, Role.VIEWER)
    with pytest.raises(PermissionDeniedError):
        await catalog.create_product(viewer, CreateProductInput(org_id, "X", "X", Money(1, "EUR")))
    product = await create(catalog, org_id)
    with pytest.raises(PermissionDeniedError):
        await catalog.change_stock.set(viewer, org_id=org_id, sku=product.sku, on_hand=1)


async def test_another_orgs_product_is_not_found(
    catalog: CatalogUseCases, org_id: uuid.UUID
) -> None:
    product = await create(catalog, org_id)
    other = uuid.uuid4()
    with pytest.raises(ProductNotFoundError):
        await catalog.get_product(principal_of(other), org_id=other, product_id=product.id)
    with pytest.raises(ProductNotFoundError):  # a token for another org: 404, not 403
        await catalog.get_product(principal_of(other), org_id=org_id, product_id=product.id)
    with pytest.raises(ProductNotFoundError):
        await catalog.update_price(
            principal_of(other), org_id=other, product_id=product.id, price=Money(1, "EUR")
        )


async def test_price_and_stock_changes_bump_one_version(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    product = await create(catalog, org_id)
    writer = principal_of(org_id)
    changed = await catalog.update_price(
        writer, org_id=org_id, product_id=product.id, price=Money(2199, "EUR")
    )
    assert changed.version == 2
    await catalog.change_stock.set(writer, org_id=org_id, sku=product.sku, on_hand=10)
    _, stock = await catalog.change_stock.adjust(
        writer, org_id=org_id, sku=product.sku, delta=-3, reason="damaged"
    )
    assert (stock.on_hand, stock.available) == (7, 7)
    events = store.events[1:]
    assert [type(e) for e in events] == [ProductPriceChanged, StockLevelChanged, StockLevelChanged]
    assert [e.version for e in events] == [2, 3, 4]  # type: ignore[attr-defined]
    with pytest.raises(InvalidQuantityError):
        await catalog.change_stock.adjust(
            writer, org_id=org_id, sku=product.sku, delta=-8, reason="lost"
        )
    with pytest.raises(ProductVersionConflictError):
        await catalog.update_price(
            writer, org_id=org_id, product_id=product.id, price=Money(1, "EUR"), expected_version=3
        )
    with pytest.raises(StockVersionConflictError):
        await catalog.change_stock.set(
            writer, org_id=org_id, sku=product.sku, on_hand=1, expected_version=3
        )
    with pytest.raises(ProductCurrencyChangeError):
        await catalog.update_price(
            writer, org_id=org_id, product_id=product.id, price=Money(1, "USD")
        )


async def test_list_pages_with_a_cursor(catalog: CatalogUseCases, org_id: uuid.UUID) -> None:
    for n in range(5):
        await create(catalog, org_id, f"SKU-{n}")
    await create(catalog, uuid.uuid4(), "ELSEWHERE")
    reader = principal_of(org_id, Role.VIEWER)
    first = await catalog.list_products(reader, org_id=org_id, cursor=None, limit=3)
    second = await catalog.list_products(reader, org_id=org_id, cursor=first.next_cursor, limit=3)
    assert len(first.items) == 3
    assert first.next_cursor is not None
    assert len(second.items) == 2
    assert second.next_cursor is None
    skus = [p.sku for p in first.items + second.items]
    assert skus == [f"SKU-{n}" for n in reversed(range(5))]  # newest first
    filtered = await catalog.list_products(
        reader, org_id=org_id, cursor=None, filters=ProductFilter(sku="SKU-2")
    )
    assert [p.sku for p in filtered.items] == ["SKU-2"]
    with pytest.raises(ValidationError):
        await catalog.list_products(reader, org_id=org_id, cursor="not-a-cursor")
