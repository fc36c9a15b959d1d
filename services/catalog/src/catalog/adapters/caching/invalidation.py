"""Which cached items a catalog event touches: one mapping for writes and for the listener.

Both read integration events (``ce_type`` + JSON payload, contracts/asyncapi/catalog.yaml):
the unit of work maps the outbox messages it just committed, the listener of every API
instance maps what it reads from ``catalog.events``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from catalog.adapters.messaging.events import EVENT_TYPES
from catalog.domain.events import (
    ProductCreated,
    ProductPriceChanged,
    StockCommitted,
    StockLevelChanged,
    StockRejected,
    StockReleased,
    StockReserved,
)

__all__ = ["Touched", "UnknownCatalogEventError", "touched_by"]

_ONE_PRODUCT = {
    EVENT_TYPES[ProductCreated],
    EVENT_TYPES[ProductPriceChanged],
    EVENT_TYPES[StockLevelChanged],
}
_LINES = {EVENT_TYPES[StockReserved], EVENT_TYPES[StockReleased], EVENT_TYPES[StockCommitted]}
_NOTHING = {EVENT_TYPES[StockRejected]}


class UnknownCatalogEventError(ValueError):
    """An event this version cannot map (newer, or malformed): assume it changed anything."""


@dataclass(frozen=True, slots=True)
class Touched:
    """A product (and its SKU's stock level) an event changed."""

    org_id: uuid.UUID
    product_id: uuid.UUID
    sku: str


def touched_by(event_type: str, payload: Any) -> list[Touched]:
    """The products ``payload`` (of type ``event_type``) changed; [] when it changed none.

    Raises:
        UnknownCatalogEventError: an unknown type, or a payload without what it should name.
    """
    try:
        if event_type in _NOTHING:
            return []
        org_id = uuid.UUID(payload["org_id"])
        if event_type in _ONE_PRODUCT:
            return [_touched(org_id, payload)]
        if event_type in _LINES:
            return [_touched(org_id, line) for line in payload["lines"]]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UnknownCatalogEventError(f"unreadable {event_type} payload") from exc
    raise UnknownCatalogEventError(f"unknown catalog event type {event_type!r}")


def _touched(org_id: uuid.UUID, item: Mapping[str, Any]) -> Touched:
    sku = item["sku"]
    if not isinstance(sku, str) or not sku:
        raise ValueError("sku")
    return Touched(org_id, uuid.UUID(item["product_id"]), sku)
