"""Identifiers: UUID v7, time-ordered so primary-key indexes stay append-mostly.

``uuid_utils`` generates them (RFC 9562, monotonic within a millisecond); callers get a plain
:class:`uuid.UUID` so SQLAlchemy, pydantic and asyncpg treat it like any other UUID.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from uuid_utils import compat

__all__ = ["id_timestamp", "new_id"]


def new_id() -> uuid.UUID:
    """Return a new UUID v7: 48 bits of Unix milliseconds, then monotonic random bits."""
    return compat.uuid7()


def id_timestamp(value: uuid.UUID) -> datetime:
    """Return the UTC instant (millisecond precision) embedded in a UUID v7.

    Raises:
        ValueError: ``value`` is not a version 7 UUID.
    """
    if value.version != 7:
        raise ValueError(f"expected a UUID v7, got version {value.version}")
    millis = value.int >> 80
    return datetime.fromtimestamp(millis / 1000, tz=UTC)
