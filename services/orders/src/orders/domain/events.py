"""Orders' domain events (past tense); the messaging adapter maps each to a v1 message of
contracts/asyncapi/orders.yaml. Every event carries the order's version after the change.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from orders.domain.values import Money, OrderLine, RejectedLine

__all__ = [
    "DomainEvent",
    "OrderCancelRequested",
    "OrderCancelled",
    "OrderConfirmed",
    "OrderPaymentRequested",
    "OrderPlaced",
    "OrderRejected",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to one order, in one org."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    order_version: int
    occurred_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPlaced(DomainEvent):
    """A customer placed an order (catalog is asked to reserve and price it)."""

    placed_by: uuid.UUID
    currency: str
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderPaymentRequested(DomainEvent):
    """Stock is reserved and priced; payments is asked to authorise the total."""

    reservation_id: uuid.UUID
    amount: Money


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderConfirmed(DomainEvent):
    """Terminal: stock reserved and payment authorised (no payment when the total is zero)."""

    reservation_id: uuid.UUID
    payment_id: uuid.UUID | None
    total: Money
    lines: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderRejected(DomainEvent):
    """Terminal: catalog refused the stock, nothing is held."""

    reason: str
    rejected_lines: tuple[RejectedLine, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelRequested(DomainEvent):
    """The compensations must run (customer cancel, payment failed, a step timed out)."""

    reason: str
    requested_by: uuid.UUID | None


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelled(DomainEvent):
    """Terminal: the compensations are done (stock released)."""

    reason: str
