"""How long entries live in each layer, how much their TTLs are jittered, how fills coordinate."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CachePolicy", "jittered"]

MAX_JITTER = 0.5


def jittered(seconds: float, jitter: float, rand: Callable[[], float] = random.random) -> float:
    """``seconds`` scaled by a random factor in ``[1 - jitter, 1 + jitter]``.

    Entries filled together (a cold start, a burst after an invalidation) then expire spread
    over a window instead of all at once, so their reloads do not hit the database together.
    """
    if not 0 <= jitter <= MAX_JITTER:
        raise ValueError(f"jitter must be in [0, {MAX_JITTER}], got {jitter!r}")
    return seconds * (1.0 + jitter * (2.0 * rand() - 1.0))


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """The explicit lifetimes and limits of one cache.

    Attributes:
        ttl_s: how long a found value may be served after it was loaded (Redis TTL; the local
            layer never keeps an entry longer than Redis still would). > 0.
        negative_ttl_s: the same for "absent" (the loader returned None); 0 caches no absence.
            Keep it short: absence ends with a create, and a create invalidates it explicitly
            too, but a short TTL bounds the damage of a missed invalidation.
        local_ttl_s: cap of the in-process layer (None: ``ttl_s``; 0: no in-process layer).
        local_max_entries: LRU bound of the in-process layer.
        jitter: every TTL is scaled by a random factor in ``[1 - jitter, 1 + jitter]``.
        lock_ttl_s: lifetime of the Redis fill lock (one instance loads a missing key while
            the others wait for its value); it expires by itself if its holder dies.
        lock_wait_s: how long an instance that lost the fill lock waits for the winner's value
            before it loads the value itself.
        lock_poll_s: how often a waiting instance looks for the winner's value.
        invalidation_hold_s: how long an invalidated key stays a tombstone in Redis, refusing
            fills. A fill whose load read the database before the write committed can land
            after the invalidation; the tombstone turns it away. Make it longer than the
            slowest load (the database's statement timeout).
    """

    ttl_s: float
    negative_ttl_s: float = 0.0
    local_ttl_s: float | None = None
    local_max_entries: int = 10_000
    jitter: float = 0.15
    lock_ttl_s: float = 2.0
    lock_wait_s: float = 0.25
    lock_poll_s: float = 0.02
    invalidation_hold_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.ttl_s > 0:
            raise ValueError("ttl_s must be positive: every cache has an explicit TTL")
        if self.negative_ttl_s < 0 or (self.local_ttl_s is not None and self.local_ttl_s < 0):
            raise ValueError("TTLs cannot be negative")
        if self.local_max_entries < 1:
            raise ValueError("local_max_entries must be at least 1")
        if not 0 <= self.jitter <= MAX_JITTER:
            raise ValueError(f"jitter must be in [0, {MAX_JITTER}]")
        if not (self.lock_ttl_s > 0 and self.lock_wait_s >= 0 and self.lock_poll_s > 0):
            raise ValueError("lock_ttl_s and lock_poll_s must be positive, lock_wait_s >= 0")
        if not self.invalidation_hold_s > 0:
            raise ValueError("invalidation_hold_s must be positive")

    def ttl_for(self, found: bool) -> float:
        """The (unjittered) Redis TTL of a found value or of an absence."""
        return self.ttl_s if found else self.negative_ttl_s

    def local_cap(self) -> float:
        """The (unjittered) cap of the in-process layer."""
        return self.ttl_s if self.local_ttl_s is None else min(self.local_ttl_s, self.ttl_s)
