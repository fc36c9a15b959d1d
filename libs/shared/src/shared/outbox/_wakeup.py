"""The relay's doorbell: rung after a commit in this process, or by a NOTIFY from another one."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection

__all__ = ["RelayWakeup"]


class RelayWakeup:
    """Wakes waiting relay loops; rings coalesce, so a burst of commits costs one extra read.

    The unit of work rings it after a commit that wrote outbox rows, naming the rows' lanes; the
    relay's LISTEN callback rings it on a NOTIFY (lanes unknown: every loop). Each of the relay's
    publish loops waits in its own *slot* (loop ``i`` serves the lanes with ``lane % slots ==
    i``), so a commit wakes only the loop that serves its lanes: with two loops, a ring for
    everyone cost an empty read of the table per commit (issue 10). Every ring of a slot bumps
    its generation: a loop notes the generation before it reads the table and then waits only
    if nothing rang since, so a ring that arrives during a round is never lost. It belongs to
    one event loop, like any asyncio primitive.
    """

    def __init__(self, slots: int = 1) -> None:
        """Create a silent doorbell with ``slots`` waiting places (one per publish loop)."""
        self._generations: list[int] = []
        self._events: list[asyncio.Event] = []
        self.use_slots(slots)

    def use_slots(self, slots: int) -> None:
        """Split the doorbell into ``slots`` (before any loop waits: the relay, at start)."""
        if slots < 1:
            raise ValueError("slots must be >= 1")
        if slots != len(self._events):
            self._generations = [0] * slots
            self._events = [asyncio.Event() for _ in range(slots)]

    @property
    def generation(self) -> int:
        """How many times slot 0 has rung; note it before reading the table (one-slot use)."""
        return self._generations[0]

    def generation_of(self, slot: int) -> int:
        """How many times ``slot`` has rung; its loop notes it before reading the table."""
        return self._generations[slot]

    def ring(self, lanes: Collection[int] | None = None) -> None:
        """Wake the loops serving ``lanes`` (every loop when None); cheap, never blocks."""
        count = len(self._events)
        if lanes is None or count == 1:
            slots: Collection[int] = range(count)
        else:
            slots = {lane % count for lane in lanes}
        for slot in slots:
            self._generations[slot] += 1
            event, self._events[slot] = self._events[slot], asyncio.Event()
            event.set()

    async def wait(self, seen: int, timeout: float, *, slot: int = 0) -> bool:  # noqa: ASYNC109
        """Wait up to ``timeout`` seconds unless ``slot`` rang since its generation ``seen``.

        Returns True when it rang (before or during the wait).
        """
        if self._generations[slot] != seen:
            return True
        if timeout > 0:
            event = self._events[slot]
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await event.wait()
        return self._generations[slot] != seen
