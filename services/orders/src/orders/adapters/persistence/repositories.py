"""Orders' repository on PostgreSQL; every query but the deadline sweep is scoped by ``org_id``.

An order is one ``orders`` row and its ``order_lines``; the lines are written again only when
they changed (once, when stock is reserved and priced).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Row, RowMapping, Select, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from orders.adapters.persistence.tables import order_lines, orders
from orders.application.ports import OrderFilter
from orders.domain.model import Order, OrderStatus
from orders.domain.values import Money, OrderLine

__all__ = ["LINE_COLUMNS", "SqlaOrderRepository", "order_page", "orders_from_joined"]

_o, _l = orders.c, order_lines.c
LINE_COLUMNS = (_l.line_no, _l.sku, _l.quantity, _l.product_id, _l.unit_price_minor)
# One order and its lines in one statement (a join), built once so SQLAlchemy compiles it once:
# a saga step loads its order on every record, and a second statement for the lines was a
# second round trip each time. ``FOR UPDATE OF orders`` locks the order row only, as before.
_GET = (
    select(orders, *LINE_COLUMNS)
    .outerjoin(order_lines, _l.order_id == _o.id)
    .where(_o.org_id == bindparam("org_id"), _o.id == bindparam("order_id"))
    .order_by(_l.line_no)
)
_GET_FOR_UPDATE = _GET.with_for_update(of=orders)
_UPDATE_LINE = (
    update(order_lines)
    .where(_l.order_id == bindparam("b_order_id"), _l.line_no == bindparam("b_line_no"))
    .values(product_id=bindparam("b_product_id"), unit_price_minor=bindparam("b_price"))
)


def _order_values(order: Order) -> dict[str, Any]:
    return {
        "status": order.status.value,
        "version": order.version,
        "reservation_id": order.reservation_id,
        "payment_id": order.payment_id,
        "total_minor": order.total.amount_minor if order.total else None,
        "status_reason": order.status_reason,
        "deadline_at": order.deadline_at,
        "payment_requested_at": order.payment_requested_at,
        "cancel_requested_by": order.cancel_requested_by,
        "cancel_note": order.cancel_note,
        "updated_at": order.updated_at,
        "confirmed_at": order.confirmed_at,
        "closed_at": order.closed_at,
    }


def _order(row: RowMapping, lines: Sequence[RowMapping]) -> Order:
    currency = row["currency"]
    return Order(
        id=row["id"],
        org_id=row["org_id"],
        placed_by=row["placed_by"],
        currency=currency,
        lines=tuple(
            OrderLine(
                sku=line["sku"],
                quantity=line["quantity"],
                product_id=line["product_id"],
                unit_price=(
                    Money(line["unit_price_minor"], currency)
                    if line["unit_price_minor"] is not None
                    else None
                ),
            )
            for line in sorted(lines, key=lambda ln: ln["line_no"])
        ),
        status=OrderStatus(row["status"]),
        version=row["version"],
        placed_at=row["placed_at"],
        updated_at=row["updated_at"],
        deadline_at=row["deadline_at"],
        reservation_id=row["reservation_id"],
        payment_id=row["payment_id"],
        total=Money(row["total_minor"], currency) if row["total_minor"] is not None else None,
        status_reason=row["status_reason"],
        confirmed_at=row["confirmed_at"],
        closed_at=row["closed_at"],
        payment_requested_at=row["payment_requested_at"],
        cancel_requested_by=row["cancel_requested_by"],
        cancel_note=row["cancel_note"],
    )


class SqlaOrderRepository:
    """Orders in PostgreSQL, bound to one unit of work's session."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._loaded: dict[uuid.UUID, tuple[OrderLine, ...]] = {}

    async def add(self, order: Order) -> None:
        """Insert the order and its lines."""
        await self._session.execute(
            insert(orders).values(
                id=order.id,
                org_id=order.org_id,
                placed_by=order.placed_by,
                currency=order.currency,
                placed_at=order.placed_at,
                **_order_values(order),
            )
        )
        await self._session.execute(
            insert(order_lines),
            [
                {
                    "order_id": order.id,
                    "line_no": n,
                    "sku": line.sku,
                    "quantity": line.quantity,
                    "product_id": line.product_id,
                    "unit_price_minor": line.unit_price.amount_minor if line.unit_price else None,
                }
                for n, line in enumerate(order.lines)
            ],
        )
        self._loaded[order.id] = order.lines

    async def get(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Order | None:
        """The org's order (row-locked when ``for_update``), or None."""
        query = _GET_FOR_UPDATE if for_update else _GET
        rows = (await self._session.execute(query, {"org_id": org_id, "order_id": order_id})).all()
        found = orders_from_joined(rows)
        for order in found:
            self._loaded[order.id] = order.lines
        return found[0] if found else None

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        """Up to ``limit`` of the org's orders, newest first, older than the cursor ``before``."""
        return await self._load(order_page(org_id, before, limit, filters))

    async def lock_due(self, *, now: datetime, limit: int) -> Sequence[Order]:
        """Lock up to ``limit`` orders whose deadline passed, oldest deadline first, skipping
        the ones another transaction holds."""
        query = (
            select(orders)
            .where(_o.deadline_at.is_not(None), _o.deadline_at <= now)
            .order_by(_o.deadline_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return await self._load(query)

    async def save(self, order: Order) -> None:
        """Write the order's mutable columns, and its lines if they changed since loaded."""
        await self._session.execute(
            update(orders)
            .where(_o.org_id == order.org_id, _o.id == order.id)
            .values(**_order_values(order))
        )
        if self._loaded.get(order.id) != order.lines:
            await self._session.execute(
                _UPDATE_LINE,
                [
                    {
                        "b_order_id": order.id,
                        "b_line_no": n,
                        "b_product_id": line.product_id,
                        "b_price": line.unit_price.amount_minor if line.unit_price else None,
                    }
                    for n, line in enumerate(order.lines)
                ],
            )
            self._loaded[order.id] = order.lines

    async def _load(self, query: Select[Any]) -> Sequence[Order]:
        rows = (await self._session.execute(query)).mappings().all()
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        lines = (
            (await self._session.execute(select(order_lines).where(_l.order_id.in_(ids))))
            .mappings()
            .all()
        )
        by_order: dict[uuid.UUID, list[RowMapping]] = {}
        for line in lines:
            by_order.setdefault(line["order_id"], []).append(line)
        loaded = [_order(row, by_order.get(row["id"], [])) for row in rows]
        for order in loaded:
            self._loaded[order.id] = order.lines
        return loaded


def orders_from_joined(rows: Sequence[Row[Any]]) -> list[Order]:
    """Group joined rows (an order's columns repeated on each of its lines) into orders."""
    grouped: dict[uuid.UUID, tuple[RowMapping, list[RowMapping]]] = {}
    for row in rows:
        mapping = row._mapping
        _, lines = grouped.setdefault(mapping["id"], (mapping, []))
        if mapping["line_no"] is not None:
            lines.append(mapping)
    return [_order(head, lines) for head, lines in grouped.values()]


def order_page(
    org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
) -> Select[Any]:
    """The org's order rows of one list page: filtered, newest first, older than ``before``."""
    query = select(orders).where(_o.org_id == org_id)
    if before is not None:
        query = query.where(_o.id < before)
    if filters.statuses:
        query = query.where(_o.status.in_(sorted(s.value for s in filters.statuses)))
    if filters.placed_by is not None:
        query = query.where(_o.placed_by == filters.placed_by)
    if filters.placed_after is not None:
        query = query.where(_o.placed_at >= filters.placed_after)
    if filters.placed_before is not None:
        query = query.where(_o.placed_at < filters.placed_before)
    return query.order_by(_o.id.desc()).limit(limit)
