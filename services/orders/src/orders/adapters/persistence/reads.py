"""Orders as the API reads them: one statement per read, outside any transaction, no ORM.

``GET /orders/{id}`` is orders-api's hottest call. An order and its lines come from one ``SELECT``
(a join), so they are one snapshot with no ``BEGIN``/``ROLLBACK`` around it; the statement is
built once, here, so SQLAlchemy compiles it once and asyncpg prepares it once per connection.
A listing joins the lines to the page of orders in one statement as well.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, bindparam, select

# The row -> Order mapping is the repository's, so both read the same columns the same way.
from orders.adapters.persistence.repositories import LINE_COLUMNS, order_page, orders_from_joined
from orders.adapters.persistence.tables import order_lines, orders
from orders.application.ports import OrderFilter
from orders.domain.model import Order
from shared.db import ReadOnlyDatabase

__all__ = ["SqlaOrderReads"]

_o, _l = orders.c, order_lines.c
_GET = (
    select(orders, *LINE_COLUMNS)
    .outerjoin(order_lines, _l.order_id == _o.id)
    .where(_o.org_id == bindparam("org_id"), _o.id == bindparam("order_id"))
    .order_by(_l.line_no)
)


class SqlaOrderReads:
    """Implements orders' ``OrderReads`` port on :class:`shared.db.ReadOnlyDatabase`."""

    def __init__(self, db: ReadOnlyDatabase) -> None:
        self._db = db

    async def get(self, *, org_id: uuid.UUID, order_id: uuid.UUID) -> Order | None:
        """The org's order, or None (another org's too)."""
        rows = await self._db.all(_GET, {"org_id": org_id, "order_id": order_id})
        orders_read = orders_from_joined(rows)
        return orders_read[0] if orders_read else None

    async def list(
        self, *, org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
    ) -> Sequence[Order]:
        """Up to ``limit`` of the org's orders, newest first, older than the cursor ``before``."""
        return orders_from_joined(await self._db.all(_page(org_id, before, limit, filters)))


def _page(
    org_id: uuid.UUID, before: uuid.UUID | None, limit: int, filters: OrderFilter
) -> Select[Any]:
    page = order_page(org_id, before, limit, filters).subquery()
    return (
        select(page, *LINE_COLUMNS)
        .select_from(page.outerjoin(order_lines, _l.order_id == page.c.id))
        .order_by(page.c.id.desc(), _l.line_no)
    )
