"""Opaque list cursors, bound to the filters they were issued with (contracts/README.md).

A cursor is URL-safe base64 of ``{"after": <last id>, "f": <digest of the filters>}``; a cursor
that does not decode, or that was issued for other filters, is ``422 validation.failed``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from collections.abc import Mapping

from shared.errors import FieldError, ValidationError

__all__ = ["decode_cursor", "encode_cursor"]

_DIGEST_CHARS = 16


def _digest(filters: Mapping[str, object]) -> str:
    canonical = json.dumps(filters, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:_DIGEST_CHARS]


def encode_cursor(last_id: uuid.UUID, filters: Mapping[str, object]) -> str:
    """The cursor of the page after ``last_id`` for ``filters``."""
    raw = json.dumps({"after": str(last_id), "f": _digest(filters)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode("ascii").rstrip("=")


def _invalid() -> ValidationError:
    return ValidationError(
        "The cursor is not valid for this list.",
        errors=[FieldError("query.cursor", "malformed or issued for other filters", "value_error")],
    )


def decode_cursor(cursor: str | None, filters: Mapping[str, object]) -> uuid.UUID | None:
    """The id to continue after, or None for the first page; 422 for a bad or foreign cursor."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        after = uuid.UUID(data["after"])
        bound = data["f"]
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeError):
        raise _invalid() from None
    if bound != _digest(filters):
        raise _invalid()
    return after
