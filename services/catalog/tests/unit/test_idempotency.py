"""Idempotency-Key rules of the creating use cases, through bootstrap on the fakes."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from catalog.application.facade import CatalogUseCases
from catalog.application.ports import StockLevel
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.domain.errors import InvalidQuantityError, SkuTakenError
from catalog.domain.model import Money, Product
from shared.auth.principal import Role
from shared.errors import PermissionDeniedError
from shared.idempotency import IdempotencyKeyReusedError, IdempotentRequest, IdempotentResponse

from .conftest import Store, principal_of


def product_request(key: str, fingerprint: str = "fp-1") -> IdempotentRequest[Product]:
    def render(product: Product) -> IdempotentResponse:
        return IdempotentResponse(201, {"id": str(product.id), "sku": product.sku})

    return IdempotentRequest(key=key, fingerprint=fingerprint, render=render)


def level_request(key: str, fingerprint: str = "fp-1") -> IdempotentRequest[StockLevel]:
    def render(level: StockLevel) -> IdempotentResponse:
        body: dict[str, Any] = {"id": str(uuid.uuid4()), "on_hand": level[1].on_hand}
        return IdempotentResponse(201, body)

    return IdempotentRequest(key=key, fingerprint=fingerprint, render=render)


def widget(org_id: uuid.UUID, sku: str = "W-1") -> CreateProductInput:
    return CreateProductInput(org_id, sku, "Widget", Money(100, "EUR"))


async def test_the_same_key_and_request_creates_once_and_replays_the_response(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    first = await catalog.create_product.once(writer, widget(org_id), product_request("k1"))
    again = await catalog.create_product.once(writer, widget(org_id), product_request("k1"))
    assert (first.replayed, again.replayed) == (False, True)
    assert again.response == first.response
    assert len(store.products) == 1
    assert len(store.events) == 1  # one product.created


async def test_the_same_key_with_another_request_is_refused(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    await catalog.create_product.once(writer, widget(org_id), product_request("k1"))
    with pytest.raises(IdempotencyKeyReusedError):
        await catalog.create_product.once(
            writer, widget(org_id, "W-2"), product_request("k1", "fp-2")
        )
    assert len(store.products) == 1


async def test_a_failed_request_leaves_no_record_so_the_key_can_be_retried(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    await catalog.create_product.once(writer, widget(org_id), product_request("k1"))
    with pytest.raises(SkuTakenError):
        await catalog.create_product.once(writer, widget(org_id), product_request("k2", "x"))
    retried = await catalog.create_product.once(
        writer, widget(org_id, "W-2"), product_request("k2", "y")
    )
    assert not retried.replayed
    assert len(store.products) == 2


async def test_keys_are_scoped_by_org_and_operation_and_authorized_first(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    other = uuid.uuid4()
    await catalog.create_product.once(principal_of(org_id), widget(org_id), product_request("k"))
    theirs = await catalog.create_product.once(
        principal_of(other), widget(other), product_request("k")
    )
    assert not theirs.replayed
    adjusted = await catalog.change_stock.adjust_once(
        principal_of(org_id),
        org_id=org_id,
        sku="W-1",
        delta=1,
        reason="r",
        request=level_request("k"),
    )
    assert not adjusted.replayed
    with pytest.raises(PermissionDeniedError):
        await catalog.create_product.once(
            principal_of(org_id, Role.VIEWER), widget(org_id), product_request("k")
        )
    assert len(store.products) == 2


async def test_an_adjustment_is_applied_once_per_key(
    catalog: CatalogUseCases, store: Store, org_id: uuid.UUID
) -> None:
    writer = principal_of(org_id)
    await catalog.create_product(writer, widget(org_id))
    first = await catalog.change_stock.adjust_once(
        writer, org_id=org_id, sku="W-1", delta=5, reason="received", request=level_request("a")
    )
    again = await catalog.change_stock.adjust_once(
        writer, org_id=org_id, sku="W-1", delta=5, reason="received", request=level_request("a")
    )
    assert again.replayed
    assert again.response == first.response
    (stock,) = store.stock.values()
    assert stock.on_hand == 5
    with pytest.raises(IdempotencyKeyReusedError):
        await catalog.change_stock.adjust_once(
            writer,
            org_id=org_id,
            sku="W-1",
            delta=6,
            reason="received",
            request=level_request("a", "fp-2"),
        )
    with pytest.raises(InvalidQuantityError):
        await catalog.change_stock.adjust_once(
            writer, org_id=org_id, sku="W-1", delta=-9, reason="x", request=level_request("b")
        )
    assert "b" not in {key for _scope, key in store.idempotency}
