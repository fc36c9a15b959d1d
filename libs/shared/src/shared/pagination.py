"""Cursor pagination for list use cases (contracts/README.md, "Lists"); framework-free.

A list takes ``cursor`` (opaque, from the previous page) and ``limit`` (1-100) and answers
``{items, next_cursor}``, newest first by id (UUID v7). A cursor is bound to the filters it was
issued with: one replayed with other filters, or forged, is ``422 validation.failed``, never a
wrong page. A use case reads::

    check_limit(limit)
    bound = {"status": filters.status, "placed_by": filters.placed_by}
    before = decode_cursor(cursor, bound)
    rows = await uow.orders.list(org_id=org_id, before=before, limit=limit + 1, ...)
    return page_of(rows, limit, lambda order: encode_cursor(order.id, bound))

The cursor is URL-safe base64 of ``{"after": <last id>, "f": <digest of the filters>}``; the
digest is over the filters' canonical JSON (sets sorted), so equal filters always match. Lists
ordered by something else than an id (stock by SKU) use :func:`decode_key_cursor`, whose
position is a string.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shared.errors import FieldError, ValidationError

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "Page",
    "check_limit",
    "decode_cursor",
    "decode_key_cursor",
    "encode_cursor",
    "page_of",
]

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_DIGEST_CHARS = 16

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list; ``next_cursor`` is None on the last page."""

    items: tuple[T, ...]
    next_cursor: str | None


def check_limit(limit: int, maximum: int = MAX_LIMIT) -> None:
    """Reject a page size outside ``1..maximum``.

    Raises:
        ValidationError: ``limit`` is out of range.
    """
    if not 1 <= limit <= maximum:
        raise ValidationError(f"limit must be between 1 and {maximum}.")


def _canonical(value: object) -> object:
    # Sets have no order of their own; everything else JSON cannot encode is named by str().
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    return str(value)


def _digest(filters: Mapping[str, object]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=_canonical)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_DIGEST_CHARS]


def encode_cursor(after: uuid.UUID | str, filters: Mapping[str, object]) -> str:
    """The cursor of the page after the item ``after`` (an id or a key), bound to ``filters``."""
    raw = json.dumps({"after": str(after), "f": _digest(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def _invalid() -> ValidationError:
    return ValidationError(
        "The cursor is not valid for this list.",
        errors=[FieldError("query.cursor", "malformed or issued for other filters", "value_error")],
    )


def decode_key_cursor(cursor: str | None, filters: Mapping[str, object]) -> str | None:
    """The key to continue after, or None for the first page (no cursor).

    Raises:
        ValidationError: the cursor is malformed, or was issued for other filters.
    """
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = data["after"]
        bound = data["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise _invalid() from None
    if not isinstance(after, str) or bound != _digest(filters):
        raise _invalid()
    return after


def decode_cursor(cursor: str | None, filters: Mapping[str, object]) -> uuid.UUID | None:
    """The id to continue after, or None for the first page (no cursor).

    Raises:
        ValidationError: the cursor is malformed, or was issued for other filters.
    """
    after = decode_key_cursor(cursor, filters)
    if after is None:
        return None
    try:
        return uuid.UUID(after)
    except ValueError:
        raise _invalid() from None


def page_of(rows: Sequence[T], limit: int, cursor_after: Callable[[T], str]) -> Page[T]:
    """The page of ``rows`` read with ``limit + 1``: the first ``limit``, and when a row
    follows them, ``cursor_after(last item)`` as the next cursor."""
    items = tuple(rows[:limit])
    more = len(rows) > limit and bool(items)
    return Page(items, cursor_after(items[-1]) if more else None)
