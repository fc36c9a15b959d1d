"""The in-process layer: a bounded LRU of byte strings, each with its own expiry."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

__all__ = ["LocalTTLCache"]


class LocalTTLCache:
    """A least-recently-used map of ``key -> bytes`` where every entry expires on its own.

    Entries are the encoded envelopes, not live objects: every hit decodes a fresh value, so
    no two requests ever share (and could mutate) one object. Not thread-safe; one per event
    loop (asyncio code between awaits is atomic, which is all it needs).

    Args:
        max_entries: beyond this, the least recently used entry is dropped.
        timer: monotonic seconds (tests pass a fake clock).
    """

    def __init__(self, max_entries: int, *, timer: Callable[[], float] = time.monotonic) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._timer = timer
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    def __len__(self) -> int:
        """Entries held, expired ones not yet dropped included."""
        return len(self._entries)

    def get(self, key: str) -> bytes | None:
        """The live entry of ``key`` (now the most recently used), or None."""
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, value = found
        if self._timer() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def set(self, key: str, value: bytes, ttl_s: float) -> None:
        """Keep ``value`` for ``ttl_s`` seconds (nothing when ``ttl_s <= 0``)."""
        if ttl_s <= 0:
            return
        self._entries[key] = (self._timer() + ttl_s, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def remaining(self, key: str) -> float:
        """Seconds ``key`` has left (0 when absent or expired)."""
        found = self._entries.get(key)
        return max(0.0, found[0] - self._timer()) if found else 0.0

    def delete(self, key: str) -> bool:
        """Drop ``key``; True if it was there."""
        return self._entries.pop(key, None) is not None

    def clear(self) -> int:
        """Drop everything; returns how many entries there were."""
        count = len(self._entries)
        self._entries.clear()
        return count
