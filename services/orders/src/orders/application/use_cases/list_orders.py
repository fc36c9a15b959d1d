"""List the caller's org's orders, newest first, a page at a time, filtered.

The cursor is opaque: the last order's id and a digest of the filters it was issued with, so a
cursor replayed with other filters (or forged) is 422 ``validation.failed``, never a wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from dataclasses import dataclass

from orders.application.permissions import POLICY
from orders.application.ports import OrderFilter, UnitOfWorkFactory
from orders.domain.errors import OrderNotFoundError
from orders.domain.model import Order
from shared.auth.principal import Principal
from shared.errors import FieldError, ValidationError

__all__ = ["MAX_LIMIT", "ListOrders", "OrderPage", "decode_cursor", "encode_cursor"]

MAX_LIMIT = 100
_VERSION = "o1"


@dataclass(frozen=True, slots=True)
class OrderPage:
    """One page; ``next_cursor`` is None on the last page."""

    items: tuple[Order, ...]
    next_cursor: str | None


def _digest(filters: OrderFilter) -> str:
    parts = [
        ",".join(sorted(s.value for s in filters.statuses)),
        str(filters.placed_by or ""),
        filters.placed_after.isoformat() if filters.placed_after else "",
        filters.placed_before.isoformat() if filters.placed_before else "",
    ]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


def encode_cursor(last: uuid.UUID, filters: OrderFilter) -> str:
    """The cursor after ``last`` for ``filters``."""
    raw = f"{_VERSION}.{last.hex}.{_digest(filters)}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _invalid_cursor() -> ValidationError:
    return ValidationError(
        "The cursor is not valid for this listing.",
        errors=[FieldError("query.cursor", "invalid or issued for other filters", "value_error")],
    )


def decode_cursor(cursor: str, filters: OrderFilter) -> uuid.UUID:
    """The id a cursor continues after.

    Raises:
        ValidationError: malformed, or issued for other filters.
    """
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        version, last, digest = raw.split(".")
        after = uuid.UUID(hex=last)
    except (ValueError, UnicodeDecodeError, binascii.Error) as exc:
        raise _invalid_cursor() from exc
    if version != _VERSION or digest != _digest(filters):
        raise _invalid_cursor()
    return after


class ListOrders:
    """Every member of the org lists its orders (ids are UUID v7: newest first by id)."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None = None,
        limit: int = 20,
        filters: OrderFilter | None = None,
    ) -> OrderPage:
        """Return up to ``limit`` (1..100) orders after ``cursor``."""
        POLICY.require(principal, "orders.read", org_id=org_id, not_found=OrderNotFoundError)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("limit must be between 1 and 100.")
        filters = filters or OrderFilter()
        if (
            filters.placed_after is not None
            and filters.placed_before is not None
            and filters.placed_after >= filters.placed_before
        ):
            raise ValidationError("placed_after must be before placed_before.")
        before = decode_cursor(cursor, filters) if cursor else None
        async with self._uow() as uow:
            rows = await uow.orders.list(
                org_id=org_id, before=before, limit=limit + 1, filters=filters
            )
        items = tuple(rows[:limit])
        more = len(rows) > limit
        return OrderPage(items, encode_cursor(items[-1].id, filters) if more and items else None)
