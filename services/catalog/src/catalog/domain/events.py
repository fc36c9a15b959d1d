"""Catalog's domain events (past tense); the messaging adapter maps them to integration events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from catalog.domain.values import HeldLine, Money, PricedLine, RejectedLine

__all__ = [
    "DomainEvent",
    "ProductCreated",
    "ProductPriceChanged",
    "StockCommitted",
    "StockLevelChanged",
    "StockRejected",
    "StockReleased",
    "StockReserved",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened in catalog, in one org."""

    org_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductCreated(DomainEvent):
    """A product was added to the org's catalog."""

    product_id: uuid.UUID
    version: int
    sku: str
    name: str
    price: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class ProductPriceChanged(DomainEvent):
    """A product's price changed (reservations keep the price they were made at)."""

    product_id: uuid.UUID
    version: int
    sku: str
    old_price: Money
    new_price: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class StockLevelChanged(DomainEvent):
    """On-hand was set or adjusted through the API."""

    product_id: uuid.UUID
    version: int
    sku: str
    change: str  # "set" | "adjusted"
    delta: int
    reason: str | None
    on_hand: int
    reserved: int
    changed_by: uuid.UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class StockReserved(DomainEvent):
    """Every line of an order is held and priced."""

    order_id: uuid.UUID
    reservation_id: uuid.UUID
    causation_id: uuid.UUID
    lines: tuple[PricedLine, ...]
    total: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class StockRejected(DomainEvent):
    """At least one line of an order could not be reserved; nothing is held."""

    order_id: uuid.UUID
    causation_id: uuid.UUID
    reason: str  # out_of_stock | unknown_sku | currency_mismatch
    rejected_lines: tuple[RejectedLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StockReleased(DomainEvent):
    """The units held for an order are available again (no lines when nothing was held)."""

    order_id: uuid.UUID
    reservation_id: uuid.UUID | None
    causation_id: uuid.UUID
    lines: tuple[HeldLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class StockCommitted(DomainEvent):
    """The units held for an order left the warehouse."""

    order_id: uuid.UUID
    reservation_id: uuid.UUID
    causation_id: uuid.UUID
    lines: tuple[HeldLine, ...]
