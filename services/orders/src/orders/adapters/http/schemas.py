"""Request and response bodies of orders' internal API (contracts/openapi/orders.yaml).

Class names are the contract's schema names, so the served OpenAPI document names them alike.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, field_validator

from orders.domain import model as domain
from orders.domain.values import Money as DomainMoney
from orders.domain.values import OrderLine as DomainLine

__all__ = [
    "CancelOrderRequest",
    "Money",
    "Order",
    "OrderLine",
    "OrderLineRequest",
    "OrderPage",
    "OrderStatus",
    "PlaceOrderRequest",
    "present",
]

Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


StatusReason = Literal[
    "out_of_stock",
    "unknown_sku",
    "currency_mismatch",
    "customer_requested",
    "payment_failed",
    "payment_timeout",
    "stock_timeout",
]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OrderStatus(enum.StrEnum):
    """Where an order is in its saga (terminal: confirmed, rejected, cancelled)."""

    pending = "pending"
    awaiting_payment = "awaiting_payment"
    confirmed = "confirmed"
    rejected = "rejected"
    cancelling = "cancelling"
    cancelled = "cancelled"


class Money(_Body):
    """An amount of money in minor units of an ISO 4217 currency."""

    amount_minor: Annotated[int, Field(ge=0, le=900_000_000_000_000)]
    currency: CurrencyCode

    @classmethod
    def of(cls, money: DomainMoney | None) -> Money | None:
        """The body of a domain value (None stays None)."""
        if money is None:
            return None
        return cls(amount_minor=money.amount_minor, currency=money.currency)


class OrderLineRequest(_Body):
    """One line of a new order."""

    sku: Sku
    quantity: Annotated[int, Field(ge=1, le=10_000)]


class PlaceOrderRequest(_Body):
    """POST /orders."""

    currency: CurrencyCode
    lines: Annotated[list[OrderLineRequest], Field(min_length=1, max_length=100)]

    @field_validator("lines")
    @classmethod
    def _one_line_per_sku(cls, lines: list[OrderLineRequest]) -> list[OrderLineRequest]:
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise ValueError("at most one line per SKU")
        return lines

    def to_domain(self) -> list[DomainLine]:
        """The lines as the domain takes them."""
        return [DomainLine(line.sku, line.quantity) for line in self.lines]


class CancelOrderRequest(_Body):
    """POST /orders/{order_id}/cancel (optional body)."""

    note: Annotated[str | None, Field(max_length=500)] = None


class OrderLine(_Body):
    """A line of an order; priced once stock is reserved."""

    sku: Sku
    quantity: Annotated[int, Field(ge=1)]
    product_id: uuid.UUID | None
    unit_price: Money | None
    line_total: Money | None


class Order(_Body):
    """An order and where it is in its saga."""

    id: uuid.UUID
    status: OrderStatus
    currency: CurrencyCode
    lines: list[OrderLine]
    total: Money | None
    placed_by: uuid.UUID
    placed_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None = None
    closed_at: datetime | None = None
    status_reason: StatusReason | None
    version: Annotated[int, Field(ge=1)]

    @classmethod
    def of(cls, order: domain.Order) -> Order:
        """The body of an order."""
        return cls(
            id=order.id,
            status=OrderStatus(order.status.value),
            currency=order.currency,
            lines=[
                OrderLine(
                    sku=line.sku,
                    quantity=line.quantity,
                    product_id=line.product_id,
                    unit_price=Money.of(line.unit_price),
                    line_total=Money.of(line.line_total),
                )
                for line in order.lines
            ],
            total=Money.of(order.total),
            placed_by=order.placed_by,
            placed_at=order.placed_at,
            updated_at=order.updated_at,
            confirmed_at=order.confirmed_at,
            closed_at=order.closed_at,
            status_reason=cast(StatusReason | None, order.status_reason),
            version=order.version,
        )


class OrderPage(_Body):
    """One page of orders, newest first."""

    items: list[Order]
    next_cursor: str | None


def present(order: domain.Order) -> dict[str, Any]:
    """The JSON body of ``order``, exactly as the API serves it (stored for replays)."""
    return Order.of(order).model_dump(mode="json")
