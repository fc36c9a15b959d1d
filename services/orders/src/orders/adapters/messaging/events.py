"""Domain events -> integration events on ``orders.events`` (contracts/asyncapi/orders.yaml):
CloudEvents type ``ordo.orders.order.<event>.v1``, keyed by order id, every payload carrying the
order's version after the change (``order_version``).
"""

from __future__ import annotations

from typing import Any

from orders.domain.events import (
    DomainEvent,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderPaymentRequested,
    OrderPlaced,
    OrderRejected,
)
from orders.domain.values import Money, OrderLine
from shared.clock import rfc3339
from shared.outbox import OutboxMessage

__all__ = ["EVENT_TYPES", "SOURCE", "TOPIC", "to_message"]

TOPIC = "orders.events"
SOURCE = "/ordo/orders"
EVENT_TYPES: dict[type[DomainEvent], str] = {
    OrderPlaced: "ordo.orders.order.placed.v1",
    OrderPaymentRequested: "ordo.orders.order.payment_requested.v1",
    OrderConfirmed: "ordo.orders.order.confirmed.v1",
    OrderRejected: "ordo.orders.order.rejected.v1",
    OrderCancelRequested: "ordo.orders.order.cancel_requested.v1",
    OrderCancelled: "ordo.orders.order.cancelled.v1",
}


def _money(money: Money) -> dict[str, Any]:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _priced(line: OrderLine) -> dict[str, Any]:
    if line.product_id is None or line.unit_price is None or line.line_total is None:
        raise ValueError(f"line {line.sku} is not priced")
    return {
        "product_id": str(line.product_id),
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price": _money(line.unit_price),
        "line_total": _money(line.line_total),
    }


def _payload(event: DomainEvent) -> dict[str, Any]:
    base: dict[str, Any] = {
        "order_id": str(event.order_id),
        "org_id": str(event.org_id),
        "order_version": event.order_version,
    }
    match event:
        case OrderPlaced():
            return base | {
                "placed_by": str(event.placed_by),
                "currency": event.currency,
                "lines": [{"sku": ln.sku, "quantity": ln.quantity} for ln in event.lines],
                "placed_at": rfc3339(event.occurred_at),
            }
        case OrderPaymentRequested():
            return base | {
                "reservation_id": str(event.reservation_id),
                "amount": _money(event.amount),
                "requested_at": rfc3339(event.occurred_at),
            }
        case OrderConfirmed():
            return base | {
                "reservation_id": str(event.reservation_id),
                "payment_id": str(event.payment_id) if event.payment_id else None,
                "total": _money(event.total),
                "lines": [_priced(line) for line in event.lines],
                "confirmed_at": rfc3339(event.occurred_at),
            }
        case OrderRejected():
            return base | {
                "reason": event.reason,
                "rejected_lines": [
                    {"sku": ln.sku, "requested": ln.requested, "available": ln.available}
                    for ln in event.rejected_lines
                ],
                "rejected_at": rfc3339(event.occurred_at),
            }
        case OrderCancelRequested():
            return base | {
                "reason": event.reason,
                "requested_by": str(event.requested_by) if event.requested_by else None,
                "requested_at": rfc3339(event.occurred_at),
            }
        case OrderCancelled():
            return base | {"reason": event.reason, "cancelled_at": rfc3339(event.occurred_at)}
    raise TypeError(f"no integration event for {type(event).__name__}")


def to_message(event: DomainEvent) -> OutboxMessage:
    """Return the outbox message of ``event``, keyed by order id."""
    key = str(event.order_id)
    return OutboxMessage(
        topic=TOPIC,
        key=key,
        type=EVENT_TYPES[type(event)],
        payload=_payload(event),
        subject=key,
        org_id=event.org_id,
        time=event.occurred_at,
    )
