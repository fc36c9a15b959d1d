"""Orders' internal API routes: thin, validate -> use case -> map (contract: orders.yaml).

The org is always the caller's (the token's ``org_id``); another org's order is 404.
``operation_id``s equal the contract's. A creating POST answers the response stored with its
Idempotency-Key, byte for byte, plus ``Idempotent-Replayed: true`` when it is a replay.

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, status
from fastapi.responses import JSONResponse
from pydantic import AwareDatetime

from orders.adapters.http.schemas import (
    CancelOrderRequest,
    Order,
    OrderPage,
    OrderStatus,
    PlaceOrderRequest,
)
from orders.application.facade import OrdersUseCases
from orders.application.ports import OrderFilter
from orders.application.use_cases.cancel_order import CancelOrderInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.domain.model import OrderStatus as DomainStatus
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.http.idempotency import IdempotencyKey, idempotent_response

__all__ = ["build_router"]

_NO_NOTE = CancelOrderRequest()


def build_router(use_cases: OrdersUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of orders' internal API."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]
    uc = use_cases

    @router.post(
        "/orders",
        operation_id="placeOrder",
        status_code=status.HTTP_201_CREATED,
        response_model=Order,
        tags=["orders"],
    )
    async def place_order(
        body: PlaceOrderRequest, caller: Caller, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        result = await uc.place_order(
            caller,
            PlaceOrderInput(
                org_id=caller.org_id,
                currency=body.currency,
                lines=body.to_domain(),
                idempotency_key=idempotency_key,
            ),
        )
        stored = result.response
        return idempotent_response(
            stored, replayed=result.replayed, headers={"Location": f"/orders/{stored.body['id']}"}
        )

    @router.get("/orders", operation_id="listOrders", response_model=OrderPage, tags=["orders"])
    async def list_orders(
        caller: Caller,
        *,
        cursor: Annotated[str | None, Query(min_length=1, max_length=512)] = None,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
        status: Annotated[list[OrderStatus] | None, Query(max_length=6)] = None,
        placed_by: uuid.UUID | None = None,
        placed_after: AwareDatetime | None = None,
        placed_before: AwareDatetime | None = None,
    ) -> OrderPage:
        filters = OrderFilter(
            statuses=frozenset(DomainStatus(s.value) for s in status or ()),
            placed_by=placed_by,
            placed_after=placed_after,
            placed_before=placed_before,
        )
        page = await uc.list_orders(
            caller, org_id=caller.org_id, cursor=cursor, limit=limit, filters=filters
        )
        return OrderPage(items=[Order.of(o) for o in page.items], next_cursor=page.next_cursor)

    @router.get(
        "/orders/{order_id}", operation_id="getOrder", response_model=Order, tags=["orders"]
    )
    async def get_order(order_id: uuid.UUID, caller: Caller) -> Order:
        order = await uc.get_order(caller, org_id=caller.org_id, order_id=order_id)
        return Order.of(order)

    @router.post(
        "/orders/{order_id}/cancel",
        operation_id="cancelOrder",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=Order,
        tags=["orders"],
    )
    async def cancel_order(
        order_id: uuid.UUID,
        caller: Caller,
        body: Annotated[CancelOrderRequest, Body()] = _NO_NOTE,
    ) -> Order:
        order = await uc.cancel_order(
            caller, CancelOrderInput(org_id=caller.org_id, order_id=order_id, note=body.note)
        )
        return Order.of(order)

    return router
