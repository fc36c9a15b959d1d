"""The gate of the in-process layers: open only while their invalidations can be trusted."""

from __future__ import annotations

__all__ = ["LocalCacheGate"]


class LocalCacheGate:
    """Whether in-process layers may serve, driven by the invalidation listener.

    An instance only learns of another instance's writes through events; while it cannot
    follow them (the listener is starting, or lost Kafka), its in-process entries could be
    stale beyond the event lag, so the gate closes and every read goes to Redis (which writers
    invalidate directly) or the loader. Each open or close starts a new epoch: entries and
    in-flight fills of an older epoch are never served nor stored.

    Args:
        open: the initial state (True where no listener exists, e.g. a single instance).
    """

    def __init__(self, *, open: bool = False) -> None:
        self._open = open
        self.epoch = 0

    @property
    def is_open(self) -> bool:
        """True while in-process layers may serve."""
        return self._open

    def open(self) -> None:
        """Let in-process layers serve again (a new, empty epoch)."""
        if not self._open:
            self._open = True
            self.epoch += 1

    def close(self) -> None:
        """Stop in-process layers from serving or filling."""
        if self._open:
            self._open = False
            self.epoch += 1

    def flush(self) -> None:
        """Empty the in-process layers (a new epoch) without changing whether they serve."""
        self.epoch += 1
