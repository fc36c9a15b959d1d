"""Catalog's reservation repository on PostgreSQL (one reservation or refusal per order)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import RowMapping, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from catalog.adapters.persistence._sql import insert_or_conflict
from catalog.adapters.persistence.tables import rejections, reservations
from catalog.domain.events import StockRejected
from catalog.domain.model import Money, PricedLine, RejectedLine
from catalog.domain.reservation import Reservation, ReservationStatus
from shared.errors import ConflictError

__all__ = ["SqlaReservationRepository"]


def _lines_json(lines: Iterable[PricedLine]) -> list[dict[str, Any]]:
    return [
        {
            "product_id": str(line.product_id),
            "sku": line.sku,
            "quantity": line.quantity,
            "unit_price": {
                "amount_minor": line.unit_price.amount_minor,
                "currency": line.unit_price.currency,
            },
        }
        for line in lines
    ]


def _reservation(row: RowMapping) -> Reservation:
    lines = tuple(
        PricedLine(
            product_id=uuid.UUID(line["product_id"]),
            sku=line["sku"],
            quantity=line["quantity"],
            unit_price=Money(line["unit_price"]["amount_minor"], line["unit_price"]["currency"]),
        )
        for line in row["lines"]
    )
    return Reservation(
        id=row["id"],
        org_id=row["org_id"],
        order_id=row["order_id"],
        status=ReservationStatus(row["status"]),
        lines=lines,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


class SqlaReservationRepository:
    """Reservations in PostgreSQL (one per order)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, reservation: Reservation) -> None:
        """Insert; a second reservation for the order is a conflict."""
        statement = insert(reservations).values(
            id=reservation.id,
            org_id=reservation.org_id,
            order_id=reservation.order_id,
            status=reservation.status.value,
            lines=_lines_json(reservation.lines),
            created_at=reservation.created_at,
            updated_at=reservation.updated_at,
        )
        await insert_or_conflict(
            self._session, statement, ConflictError("The order is already reserved.")
        )

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Reservation | None:
        """The order's reservation (row-locked when ``for_update``), or None."""
        query = select(reservations).where(
            reservations.c.org_id == org_id, reservations.c.order_id == order_id
        )
        if for_update:
            query = query.with_for_update()
        row = (await self._session.execute(query)).mappings().first()
        return _reservation(row) if row else None

    async def save(self, reservation: Reservation) -> None:
        """Write the status."""
        await self._session.execute(
            update(reservations)
            .where(reservations.c.org_id == reservation.org_id, reservations.c.id == reservation.id)
            .values(status=reservation.status.value, updated_at=reservation.updated_at)
        )

    async def add_rejection(self, rejection: StockRejected) -> None:
        """Remember the refusal (the order's lines and why)."""
        lines = [
            {"sku": line.sku, "requested": line.requested, "available": line.available}
            for line in rejection.rejected_lines
        ]
        statement = insert(rejections).values(
            org_id=rejection.org_id,
            order_id=rejection.order_id,
            reason=rejection.reason,
            rejected_lines=lines,
            rejected_at=rejection.occurred_at,
        )
        await insert_or_conflict(
            self._session, statement, ConflictError("The order was already refused.")
        )

    async def get_rejection(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> StockRejected | None:
        """The order's refusal as first answered (its causation is the first event's)."""
        query = select(rejections).where(
            rejections.c.org_id == org_id, rejections.c.order_id == order_id
        )
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        return StockRejected(
            org_id=row["org_id"],
            occurred_at=row["rejected_at"],
            order_id=row["order_id"],
            causation_id=row["order_id"],
            reason=row["reason"],
            rejected_lines=tuple(
                RejectedLine(line["sku"], line["requested"], line["available"])
                for line in row["rejected_lines"]
            ),
        )
