"""``POST /orders`` as PlaceOrder stores it under an Idempotency-Key: method, path and status.

The use case claims the key and stores the response in its own transaction; what the request
and the response look like over HTTP is this adapter's to say.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import status

from orders.application.ports import OrderPresenter
from orders.domain.model import Order
from shared.idempotency import IdempotentResponse, request_fingerprint

__all__ = ["PlaceOrderHttp"]


class PlaceOrderHttp:
    """Implements ``CreatingOperation[Order]`` for ``POST /orders`` (201 and the order)."""

    def __init__(self, present: OrderPresenter) -> None:
        self._present = present

    def fingerprint(self, body: Mapping[str, Any]) -> str:
        """The request's fingerprint: method, path and body."""
        return request_fingerprint("POST", "/orders", body)

    def render(self, result: Order) -> IdempotentResponse:
        """201 with the order as the API serves it."""
        return IdempotentResponse(status.HTTP_201_CREATED, self._present(result))
