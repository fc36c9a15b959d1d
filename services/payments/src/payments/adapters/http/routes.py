"""Payments' internal API routes: thin, validate -> use case -> map (contract: payments.yaml).

The org is always the caller's (the token's ``org_id``); another org's payment is 404.
``operation_id``s equal the contract's.

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends

from payments.adapters.http.schemas import PaymentBody
from payments.application.facade import PaymentsUseCases
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal

__all__ = ["build_router"]


def build_router(use_cases: PaymentsUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of payments' internal API."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]

    @router.get(
        "/orders/{order_id}/payment",
        operation_id="getOrderPayment",
        response_model=PaymentBody,
        tags=["payments"],
        summary="Get the payment of an order",
    )
    async def get_order_payment(order_id: uuid.UUID, caller: Caller) -> PaymentBody:
        payment = await use_cases.get_payment(caller, org_id=caller.org_id, order_id=order_id)
        return PaymentBody.of(payment)

    return router
