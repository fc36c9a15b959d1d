"""List the caller's org's orders, newest first, a page at a time, filtered.

The cursor is opaque and bound to the filters it was issued with (shared.pagination), so a
cursor replayed with other filters (or forged) is 422 ``validation.failed``, never a wrong page.
"""

from __future__ import annotations

import uuid

from orders.application.permissions import POLICY
from orders.application.ports import OrderFilter, OrderReads
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from shared.auth.principal import Principal
from shared.errors import FieldError, ValidationError
from shared.pagination import Page, check_limit, decode_cursor, encode_cursor, page_of

__all__ = ["ListOrders"]


def _bound(filters: OrderFilter) -> dict[str, object]:
    """What a cursor is bound to."""
    return {
        "statuses": sorted(s.value for s in filters.statuses),
        "placed_by": filters.placed_by,
        "placed_after": filters.placed_after,
        "placed_before": filters.placed_before,
    }


class ListOrders:
    """Every member of the org lists its orders (ids are UUID v7: newest first by id)."""

    def __init__(self, reads: OrderReads) -> None:
        self._reads = reads

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None = None,
        limit: int = 20,
        filters: OrderFilter | None = None,
    ) -> Page[Order]:
        """Return up to ``limit`` (1..100) orders after ``cursor``."""
        POLICY.require(principal, "orders.read", org_id=org_id, not_found=OrderNotFoundError)
        check_limit(limit)
        filters = filters or OrderFilter()
        if (
            filters.placed_after is not None
            and filters.placed_before is not None
            and filters.placed_after >= filters.placed_before
        ):
            raise ValidationError(
                "placed_after must be before placed_before.",
                errors=[
                    FieldError("query.placed_after", "not before placed_before", "value_error")
                ],
            )
        bound = _bound(filters)
        before = decode_cursor(cursor, bound)
        rows = await self._reads.list(
            org_id=org_id, before=before, limit=limit + 1, filters=filters
        )
        return page_of(rows, limit, lambda order: encode_cursor(order.id, bound))
