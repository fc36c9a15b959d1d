"""Reservations: the units held for one order, reserved all together or not at all.

Releasing and committing a reservation are idempotent (the second call changes nothing and
answers again), so the saga can repeat its messages safely.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from catalog.domain.errors import ReservationNotHeldError
from catalog.domain.events import (
    StockCommitted,
    StockRejected,
    StockReleased,
    StockReserved,
)
from catalog.domain.model import EventRecorder, Product, StockItem
from catalog.domain.values import HeldLine, Money, PricedLine, RejectedLine, RequestedLine

__all__ = ["Reservation", "ReservationStatus", "reserve"]


class ReservationStatus(enum.StrEnum):
    """Where a reservation is in its life."""

    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"


@dataclass(eq=False)
class Reservation(EventRecorder):
    """The units held for one order (catalog keeps at most one per order)."""

    id: uuid.UUID
    org_id: uuid.UUID
    order_id: uuid.UUID
    status: ReservationStatus
    lines: tuple[PricedLine, ...]
    created_at: datetime
    updated_at: datetime

    @property
    def total(self) -> Money:
        """The sum of the line totals (one currency per order)."""
        currency = self.lines[0].unit_price.currency
        return Money(sum(line.line_total.amount_minor for line in self.lines), currency)

    @property
    def held_lines(self) -> tuple[HeldLine, ...]:
        """The lines without their prices."""
        return tuple(line.held for line in self.lines)

    def answer_reserved(self, causation_id: uuid.UUID, now: datetime) -> None:
        """Record ``StockReserved`` (again, for a repeated ``order.placed``)."""
        self._record(
            StockReserved(
                org_id=self.org_id,
                occurred_at=now,
                order_id=self.order_id,
                reservation_id=self.id,
                causation_id=causation_id,
                lines=self.lines,
                total=self.total,
            )
        )

    def release(
        self, stock: Mapping[str, StockItem], causation_id: uuid.UUID, now: datetime
    ) -> None:
        """Give the held units back (compensation); idempotent, always answers."""
        lines: tuple[HeldLine, ...] = ()
        if self.status is ReservationStatus.HELD:
            for line in self.lines:
                stock[line.sku].unhold(line.quantity)
            self.status, self.updated_at = ReservationStatus.RELEASED, now
        if self.status is ReservationStatus.RELEASED:
            lines = self.held_lines
        self._record(
            StockReleased(
                org_id=self.org_id,
                occurred_at=now,
                order_id=self.order_id,
                reservation_id=self.id,
                causation_id=causation_id,
                lines=lines,
            )
        )

    def commit(
        self, stock: Mapping[str, StockItem], causation_id: uuid.UUID, now: datetime
    ) -> None:
        """Ship the held units (order confirmed); idempotent, always answers.

        Raises:
            ReservationNotHeldError: the reservation was released.
        """
        if self.status is ReservationStatus.RELEASED:
            raise ReservationNotHeldError(details={"order_id": str(self.order_id)})
        if self.status is ReservationStatus.HELD:
            for line in self.lines:
                stock[line.sku].ship(line.quantity)
            self.status, self.updated_at = ReservationStatus.COMMITTED, now
        self._record(
            StockCommitted(
                org_id=self.org_id,
                occurred_at=now,
                order_id=self.order_id,
                reservation_id=self.id,
                causation_id=causation_id,
                lines=self.held_lines,
            )
        )


def reserve(
    *,
    org_id: uuid.UUID,
    order_id: uuid.UUID,
    currency: str,
    lines: Sequence[RequestedLine],
    catalog: Mapping[str, tuple[Product, StockItem]],
    causation_id: uuid.UUID,
    now: datetime,
    new_id: Callable[[], uuid.UUID],
) -> Reservation | StockRejected:
    """Hold every line of an order, or none: a held ``Reservation`` or a ``StockRejected``.

    ``catalog`` maps the order's SKUs to their product and (locked) stock level; a missing SKU
    is unknown. Reasons, first match wins: unknown_sku, currency_mismatch, out_of_stock.
    """
    unknown = [RejectedLine(ln.sku, ln.quantity, None) for ln in lines if ln.sku not in catalog]
    mismatch = [
        RejectedLine(ln.sku, ln.quantity, catalog[ln.sku][1].available)
        for ln in lines
        if ln.sku in catalog and catalog[ln.sku][0].price.currency != currency
    ]
    short = [
        RejectedLine(ln.sku, ln.quantity, catalog[ln.sku][1].available)
        for ln in lines
        if ln.sku in catalog and catalog[ln.sku][1].available < ln.quantity
    ]
    for reason, rejected in (
        ("unknown_sku", unknown),
        ("currency_mismatch", mismatch),
        ("out_of_stock", short),
    ):
        if rejected:
            return StockRejected(
                org_id=org_id,
                occurred_at=now,
                order_id=order_id,
                causation_id=causation_id,
                reason=reason,
                rejected_lines=tuple(rejected),
            )
    priced = []
    for line in lines:
        product, stock = catalog[line.sku]
        stock.hold(line.quantity)
        priced.append(PricedLine(product.id, line.sku, line.quantity, product.price))
    reservation = Reservation(
        new_id(), org_id, order_id, ReservationStatus.HELD, tuple(priced), now, now
    )
    reservation.answer_reserved(causation_id, now)
    return reservation
