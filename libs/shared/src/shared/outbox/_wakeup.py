"""The relay's doorbell: rung after a commit in this process, or by a NOTIFY from another one."""

from __future__ import annotations

import asyncio
import contextlib

__all__ = ["RelayWakeup"]


class RelayWakeup:
    """Wakes waiting relay loops; rings coalesce, so a burst of commits costs one extra read.

    The unit of work rings it after a commit that wrote outbox rows; the relay's LISTEN
    callback rings it on a NOTIFY. Every ring bumps a generation: a loop notes the generation
    before it reads the table and then waits only if nothing rang since, so a ring that arrives
    during a round is never lost, whichever of several loops reads first. It belongs to one
    event loop, like any asyncio primitive.
    """

    def __init__(self) -> None:
        """Create a silent doorbell."""
        self._generation = 0
        self._event = asyncio.Event()

    @property
    def generation(self) -> int:
        """How many times it has rung; note it before reading the table."""
        return self._generation

    def ring(self) -> None:
        """Wake every waiting loop (cheap; safe to call when nobody waits)."""
        self._generation += 1
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def wait(self, seen: int, timeout: float) -> bool:  # noqa: ASYNC109 - with a fallback
        """Wait up to ``timeout`` seconds unless it rang since generation ``seen``.

        Returns True when it rang (before or during the wait).
        """
        if self._generation != seen:
            return True
        if timeout > 0:
            event = self._event
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await event.wait()
        return self._generation != seen
