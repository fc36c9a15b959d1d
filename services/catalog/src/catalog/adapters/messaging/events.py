"""Domain events -> integration events on ``catalog.events`` (contracts/asyncapi/catalog.yaml):
CloudEvents type ``ordo.catalog.<name>.v1``; product and stock-level events keyed by product
id, saga replies keyed by order id.
"""

from __future__ import annotations

from typing import Any

from catalog.domain.events import (
    DomainEvent,
    ProductCreated,
    ProductPriceChanged,
    StockCommitted,
    StockLevelChanged,
    StockRejected,
    StockReleased,
    StockReserved,
)
from catalog.domain.values import HeldLine, Money
from shared.clock import rfc3339
from shared.outbox import OutboxMessage

__all__ = ["EVENT_TYPES", "SOURCE", "TOPIC", "to_message"]

TOPIC = "catalog.events"
SOURCE = "/ordo/catalog"
EVENT_TYPES = {
    ProductCreated: "ordo.catalog.product.created.v1",
    ProductPriceChanged: "ordo.catalog.product.price_changed.v1",
    StockLevelChanged: "ordo.catalog.stock.level_changed.v1",
    StockReserved: "ordo.catalog.stock.reserved.v1",
    StockRejected: "ordo.catalog.stock.rejected.v1",
    StockReleased: "ordo.catalog.stock.released.v1",
    StockCommitted: "ordo.catalog.stock.committed.v1",
}


def _money(money: Money) -> dict[str, Any]:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _held(lines: tuple[HeldLine, ...]) -> list[dict[str, Any]]:
    return [
        {"product_id": str(line.product_id), "sku": line.sku, "quantity": line.quantity}
        for line in lines
    ]


def _payload(event: DomainEvent) -> tuple[str, dict[str, Any]]:  # noqa: PLR0911
    """Return (key, payload) of ``event``."""
    base = {"org_id": str(event.org_id)}
    match event:
        case ProductCreated():
            return str(event.product_id), base | {
                "product_id": str(event.product_id),
                "version": event.version,
                "sku": event.sku,
                "name": event.name,
                "price": _money(event.price),
                "created_at": rfc3339(event.occurred_at),
            }
        case ProductPriceChanged():
            return str(event.product_id), base | {
                "product_id": str(event.product_id),
                "version": event.version,
                "sku": event.sku,
                "old_price": _money(event.old_price),
                "new_price": _money(event.new_price),
                "changed_at": rfc3339(event.occurred_at),
            }
        case StockLevelChanged():
            return str(event.product_id), base | {
                "product_id": str(event.product_id),
                "version": event.version,
                "sku": event.sku,
                "change": event.change,
                "delta": event.delta,
                "reason": event.reason,
                "on_hand": event.on_hand,
                "reserved": event.reserved,
                "available": event.on_hand - event.reserved,
                "changed_by": str(event.changed_by),
                "changed_at": rfc3339(event.occurred_at),
            }
        case StockReserved():
            lines = [
                {
                    "product_id": str(line.product_id),
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "unit_price": _money(line.unit_price),
                    "line_total": _money(line.line_total),
                }
                for line in event.lines
            ]
            return str(event.order_id), base | {
                "order_id": str(event.order_id),
                "reservation_id": str(event.reservation_id),
                "causation_id": str(event.causation_id),
                "lines": lines,
                "total": _money(event.total),
                "reserved_at": rfc3339(event.occurred_at),
            }
        case StockRejected():
            rejected = [
                {"sku": line.sku, "requested": line.requested, "available": line.available}
                for line in event.rejected_lines
            ]
            return str(event.order_id), base | {
                "order_id": str(event.order_id),
                "causation_id": str(event.causation_id),
                "reason": event.reason,
                "rejected_lines": rejected,
                "rejected_at": rfc3339(event.occurred_at),
            }
        case StockReleased():
            return str(event.order_id), base | {
                "order_id": str(event.order_id),
                "reservation_id": str(event.reservation_id) if event.reservation_id else None,
                "causation_id": str(event.causation_id),
                "lines": _held(event.lines),
                "released_at": rfc3339(event.occurred_at),
            }
        case StockCommitted():
            return str(event.order_id), base | {
                "order_id": str(event.order_id),
                "reservation_id": str(event.reservation_id),
                "causation_id": str(event.causation_id),
                "lines": _held(event.lines),
                "committed_at": rfc3339(event.occurred_at),
            }
    raise TypeError(f"no integration event for {type(event).__name__}")


def to_message(event: DomainEvent) -> OutboxMessage:
    """Return the outbox message of ``event``; the key orders what must stay ordered."""
    key, payload = _payload(event)
    return OutboxMessage(
        topic=TOPIC,
        key=key,
        type=EVENT_TYPES[type(event)],
        payload=payload,
        subject=key,
        org_id=event.org_id,
        time=event.occurred_at,
    )
