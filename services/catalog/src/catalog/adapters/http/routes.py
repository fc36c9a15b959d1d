"""Catalog's internal API routes: thin, validate -> use case -> map (contract: catalog.yaml).

The org is always the caller's (the token's ``org_id``); another org's resource is 404.
``operation_id``s equal the contract's.

The creating POSTs (``/products``, ``/stock/{sku}/adjustments``) require an Idempotency-Key:
the use case claims it in the transaction that creates, and stores the response rendered
here; the same key and body answers that stored response again with
``Idempotent-Replayed: true``, another body is 422 ``idempotency.key_reused``, a twin still in
flight is 409 ``idempotency.in_progress`` (contracts/README.md).

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, status
from fastapi.responses import JSONResponse
from pydantic import StringConstraints

from catalog.adapters.http.schemas import (
    AdjustStockRequest,
    CreateProductRequest,
    ProductBody,
    ProductPage,
    SetStockRequest,
    StockAdjustmentBody,
    StockLevelBody,
    StockLevelPage,
    UpdatePriceRequest,
)
from catalog.application.facade import CatalogUseCases
from catalog.application.ports import ProductFilter, StockLevel
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.domain.model import Product
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.errors import FieldError, ValidationError
from shared.http.idempotency import IdempotencyKey, idempotent_response
from shared.idempotency import IdempotentRequest, IdempotentResponse, request_fingerprint
from shared.ids import new_id

__all__ = ["build_router"]

_SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SkuItem = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_SKU_PATTERN)]
SkuPath = Annotated[str, Path(min_length=1, max_length=64, pattern=_SKU_PATTERN)]


def build_router(use_cases: CatalogUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of catalog's internal API."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]
    uc = use_cases

    @router.post(
        "/products",
        operation_id="createProduct",
        status_code=status.HTTP_201_CREATED,
        response_model=ProductBody,
        tags=["products"],
    )
    async def create_product(
        body: CreateProductRequest, caller: Caller, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        command = CreateProductInput(
            org_id=caller.org_id,
            sku=body.sku,
            name=body.name,
            price=body.price.to_domain(),
            description=body.description,
        )

        def render(product: Product) -> IdempotentResponse:
            return IdempotentResponse(201, ProductBody.of(product).model_dump(mode="json"))

        request = IdempotentRequest(
            key=idempotency_key,
            fingerprint=request_fingerprint("POST", "/products", body.model_dump(mode="json")),
            render=render,
        )
        answer = await uc.create_product.once(caller, command, request)
        return idempotent_response(
            answer.response,
            replayed=answer.replayed,
            headers={"Location": f"/products/{answer.response.body['id']}"},
        )

    @router.get(
        "/products", operation_id="listProducts", response_model=ProductPage, tags=["products"]
    )
    async def list_products(
        caller: Caller,
        *,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        sku: Annotated[str | None, Query(min_length=1, max_length=64, pattern=_SKU_PATTERN)] = None,
        q: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
        currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None,
    ) -> ProductPage:
        page = await uc.list_products(
            caller,
            org_id=caller.org_id,
            cursor=cursor,
            limit=limit,
            filters=ProductFilter(sku=sku, name_contains=q, currency=currency),
        )
        return ProductPage(
            items=[ProductBody.of(p) for p in page.items], next_cursor=page.next_cursor
        )

    @router.get(
        "/products/{product_id}",
        operation_id="getProduct",
        response_model=ProductBody,
        tags=["products"],
    )
    async def get_product(product_id: uuid.UUID, caller: Caller) -> ProductBody:
        product, _stock = await uc.get_product(caller, org_id=caller.org_id, product_id=product_id)
        return ProductBody.of(product)

    @router.put(
        "/products/{product_id}/price",
        operation_id="updateProductPrice",
        response_model=ProductBody,
        tags=["products"],
    )
    async def update_price(
        product_id: uuid.UUID, body: UpdatePriceRequest, caller: Caller
    ) -> ProductBody:
        product = await uc.update_price(
            caller,
            org_id=caller.org_id,
            product_id=product_id,
            price=body.price.to_domain(),
            expected_version=body.expected_version,
        )
        return ProductBody.of(product)

    @router.get(
        "/stock", operation_id="listStockLevels", response_model=StockLevelPage, tags=["stock"]
    )
    async def list_stock_levels(
        caller: Caller,
        *,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        sku: Annotated[
            list[
                Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_SKU_PATTERN)]
            ]
            | None,
            Query(max_length=100),
        ] = None,
        available_lt: Annotated[int | None, Query(ge=0, le=1_000_000_000)] = None,
    ) -> StockLevelPage:
        page = await uc.list_stock_levels(
            caller,
            org_id=caller.org_id,
            cursor=cursor,
            limit=limit,
            skus=sku,
            available_lt=available_lt,
        )
        return StockLevelPage(
            items=[StockLevelBody.of(product, stock) for product, stock in page.items],
            next_cursor=page.next_cursor,
        )

    @router.get(
        "/stock/{sku}",
        operation_id="getStockLevel",
        response_model=StockLevelBody,
        tags=["stock"],
    )
    async def get_stock_level(sku: SkuPath, caller: Caller) -> StockLevelBody:
        product, stock = await uc.get_stock_level(caller, org_id=caller.org_id, sku=sku)
        return StockLevelBody.of(product, stock)

    @router.put(
        "/stock/{sku}",
        operation_id="setStockOnHand",
        response_model=StockLevelBody,
        tags=["stock"],
    )
    async def set_stock(sku: SkuPath, body: SetStockRequest, caller: Caller) -> StockLevelBody:
        product, stock = await uc.change_stock.set(
            caller,
            org_id=caller.org_id,
            sku=sku,
            on_hand=body.on_hand,
            expected_version=body.expected_version,
        )
        return StockLevelBody.of(product, stock)

    @router.post(
        "/stock/{sku}/adjustments",
        operation_id="adjustStock",
        status_code=status.HTTP_201_CREATED,
        response_model=StockAdjustmentBody,
        tags=["stock"],
    )
    async def adjust_stock(
        sku: SkuPath,
        body: AdjustStockRequest,
        caller: Caller,
        idempotency_key: IdempotencyKey,
    ) -> JSONResponse:
        if body.delta == 0:
            raise ValidationError(
                "delta must not be 0.",
                errors=[FieldError("body.delta", "must not be 0", "value_error")],
            )

        def render(level: StockLevel) -> IdempotentResponse:
            product, stock = level
            adjustment = StockAdjustmentBody(
                id=new_id(),
                product_id=product.id,
                sku=sku,
                delta=body.delta,
                reason=body.reason,
                created_by=caller.user_id,
                created_at=product.updated_at,
                stock=StockLevelBody.of(product, stock),
            )
            return IdempotentResponse(201, adjustment.model_dump(mode="json"))

        path = f"/stock/{sku}/adjustments"
        request = IdempotentRequest(
            key=idempotency_key,
            fingerprint=request_fingerprint("POST", path, body.model_dump(mode="json")),
            render=render,
        )
        answer = await uc.change_stock.adjust_once(
            caller,
            org_id=caller.org_id,
            sku=sku,
            delta=body.delta,
            reason=body.reason,
            request=request,
        )
        return idempotent_response(answer.response, replayed=answer.replayed)

    return router
