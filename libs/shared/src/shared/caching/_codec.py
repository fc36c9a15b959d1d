"""Serialization of cached values: JSON only, never pickle.

A pickled entry would execute code of whoever could write to Redis; a JSON entry can at worst
be wrong, and a wrong entry fails to decode and is treated as a miss. Each entry is stored in
an envelope that says whether the loader found something, so an absence can be cached too::

    {"found": true, "value": {...}}      {"found": false}
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

__all__ = ["CacheDecodeError", "Entry", "JsonCodec"]

T = TypeVar("T")


class CacheDecodeError(ValueError):
    """A stored entry is not an envelope this codec can read (corrupt, or another format)."""


@dataclass(frozen=True, slots=True)
class Entry(Generic[T]):
    """A decoded entry: ``found`` is False for a cached absence (then ``value`` is None)."""

    found: bool
    value: T | None


class JsonCodec(Generic[T]):
    """Turns values into JSON bytes and back, through two plain functions.

    Args:
        dump: value -> a JSON-serialisable structure (dicts, lists, str, int, float, bool).
        load: that structure -> value; it may raise on unexpected input (a miss, then).
        version: bump it when the shape changes: it is part of the Redis key, so instances of
            a rolling deploy never read each other's entries.
    """

    def __init__(
        self, *, dump: Callable[[T], Any], load: Callable[[Any], T], version: int = 1
    ) -> None:
        self._dump, self._load, self.version = dump, load, version

    def encode(self, found: bool, value: T | None) -> bytes:
        """The envelope of a found value or of an absence."""
        body: dict[str, Any] = {"found": found}
        if found:
            body["value"] = self._dump(value)  # type: ignore[arg-type]  # found: value is a T
        return json.dumps(body, separators=(",", ":"), allow_nan=False).encode()

    def decode(self, raw: bytes) -> Entry[T]:
        """The entry in ``raw``.

        Raises:
            CacheDecodeError: ``raw`` is not valid JSON, not an envelope, or ``load`` refused it.
        """
        try:
            body = json.loads(raw)
            if not isinstance(body, dict) or not isinstance(body.get("found"), bool):
                raise CacheDecodeError("not a cache envelope")
            if not body["found"]:
                return Entry(False, None)
            return Entry(True, self._load(body["value"]))
        except CacheDecodeError:
            raise
        except Exception as exc:
            raise CacheDecodeError(f"undecodable cache entry: {type(exc).__name__}") from exc
