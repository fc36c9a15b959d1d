"""A queue worker: claim due work from a table into free slots, run each item as a task.

The loop of payments' provider worker and notifications' webhook dispatcher, written once. A
service subclasses :class:`QueueWorker` with two methods: :meth:`QueueWorker.claim` (a short
transaction claiming up to ``free`` due items, with leases and ``SKIP LOCKED`` so replicas keep
apart) and :meth:`QueueWorker.handle` (one item, outside any transaction but its own)::

    class PaymentWorker(QueueWorker[Claim]):
        async def claim(self, free: int) -> Batch[Claim]:
            work = await self._uc.claim_due_payments(free)
            return Batch(work.claims, next_due_at=work.next_due_at)

        async def handle(self, item: Claim) -> None: ...

The loop sleeps until whichever comes first: a ring of :attr:`QueueWorker.wakeup` (a NOTIFY
through the ``listener``, a finished item), the next item falling due, or ``poll_interval_s``
(the fallback when a notification is lost). A failed claim (database down) waits
``error_backoff_s`` and tries again; it never ends the loop. An item whose worker dies is
claimed again when its lease ends. Periodic jobs ``beside`` the loop (measurements) start and
stop with it.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, Protocol, TypeVar

import structlog

from shared.clock import Clock, SystemClock
from shared.outbox import RelayWakeup
from shared.periodic import PeriodicJob

__all__ = ["Batch", "Listener", "QueueWorker"]

T = TypeVar("T")

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class Batch(Generic[T]):
    """What one claim took.

    Attributes:
        items: the claimed items, each to run in a task of its own.
        next_due_at: when the next unclaimed item falls due (None: nothing known).
        more: more may be due right now (look again at once while slots are free).
    """

    items: Sequence[T]
    next_due_at: datetime | None = None
    more: bool = False


class Listener(Protocol):
    """Rings the worker's wake-up when another process made work due (LISTEN/NOTIFY)."""

    listening: asyncio.Event

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        ...


class QueueWorker(abc.ABC, Generic[T]):
    """Claims and runs items until :meth:`stop`.

    Args:
        name: the prefix of its log events and task names (``payments.worker``).
        wakeup: rung by the listener and by finished items.
        concurrency: items in flight at most.
        poll_interval_s: the longest sleep between two claims.
        min_wait_s: the shortest sleep before an item due now that could not be claimed (another
            replica holds it right now): shorter would only spin.
        error_backoff_s: the pause after a failed claim.
        stop_timeout_s: how long a stopping worker waits for its items in flight before it
            cancels them (their leases run out, they are claimed again); None: it waits.
        listener: the LISTEN loop to run beside, if any.
        beside: periodic jobs run while the loop runs.
        on_close: releases what the worker used, once it has stopped.
        clock: the due times' clock.
    """

    def __init__(
        self,
        *,
        name: str,
        wakeup: RelayWakeup | None = None,
        concurrency: int = 16,
        poll_interval_s: float = 5.0,
        min_wait_s: float = 0.05,
        error_backoff_s: float = 1.0,
        stop_timeout_s: float | None = None,
        listener: Listener | None = None,
        beside: Sequence[PeriodicJob] = (),
        on_close: Callable[[], Awaitable[None]] | None = None,
        clock: Clock | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.name = name
        self.wakeup = wakeup or RelayWakeup()
        self.listener = listener
        self.concurrency = concurrency
        self.poll_interval_s = poll_interval_s
        self.min_wait_s = min_wait_s
        self.error_backoff_s = error_backoff_s
        self.stop_timeout_s = stop_timeout_s
        self._beside = tuple(beside)
        self._on_close = on_close
        self._clock = clock or SystemClock()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- what a service writes -----------------------------------------------------------------

    @abc.abstractmethod
    async def claim(self, free: int) -> Batch[T]:
        """Claim up to ``free`` due items (a short transaction of its own)."""

    @abc.abstractmethod
    async def handle(self, item: T) -> None:
        """Run one claimed item; an exception is logged and the item's lease runs out."""

    def task_name(self, item: T) -> str:
        """The name of the item's task."""
        return f"{self.name}-item"

    def released(self, item: T) -> None:
        """Called when the item's task has ended (however): free what its claim took."""

    # -- the loop ------------------------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Items running now."""
        return len(self._tasks)

    def stop(self) -> None:
        """Claim nothing more; finish (or cancel, see ``stop_timeout_s``) what is in flight."""
        self._stopping.set()
        self.wakeup.ring()

    async def run(self) -> None:
        """Claim and run due items until stopped."""
        listening = (
            asyncio.create_task(self.listener.run(self._stopping), name=f"{self.name}-listen")
            if self.listener is not None
            else None
        )
        for job in self._beside:
            job.start()
        log.info(f"{self.name}.started", concurrency=self.concurrency)
        try:
            while not self._stopping.is_set():
                seen = self.wakeup.generation
                wait_s = await self._round()
                if wait_s is not None:
                    await self.wakeup.wait(seen, wait_s)
        finally:
            for job in self._beside:
                await job.close()
            await self._drain()
            if listening is not None:
                self._stopping.set()
                with contextlib.suppress(Exception):
                    await listening
            if self._on_close is not None:
                await self._on_close()
            log.info(f"{self.name}.stopped")

    async def claim_round(self) -> int:
        """Fill the free slots with due items once; return how many started."""
        free = self.concurrency - self.in_flight
        if free <= 0:
            return 0
        batch = await self.claim(free)
        self._start_all(batch)
        return len(batch.items)

    async def _round(self) -> float | None:
        """Claim what fits and start it; how long to sleep next (None: look again at once)."""
        free = self.concurrency - self.in_flight
        if free <= 0:
            return self.poll_interval_s  # a finishing item rings
        try:
            batch = await self.claim(free)
        except Exception as error:
            log.warning(
                f"{self.name}.claim_failed",
                error_type=type(error).__name__,
                error=str(error)[:300],
            )
            return self.error_backoff_s
        self._start_all(batch)
        if len(batch.items) >= free:
            return self.poll_interval_s  # maybe more is due: the next free slot rings
        if batch.more:
            return None
        return self._until(batch.next_due_at)

    def _until(self, due: datetime | None) -> float:
        if due is None:
            return self.poll_interval_s
        seconds = (due - self._clock.now()).total_seconds()
        return min(self.poll_interval_s, max(seconds, self.min_wait_s))

    def _start_all(self, batch: Batch[T]) -> None:
        for item in batch.items:
            task = asyncio.create_task(self._run_one(item), name=self.task_name(item))
            self._tasks.add(task)
            task.add_done_callback(functools.partial(self._finished, item))

    def _finished(self, item: T, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.released(item)
        self.wakeup.ring()

    async def _run_one(self, item: T) -> None:
        try:
            await self.handle(item)
        except Exception as error:
            log.error(
                f"{self.name}.item_failed",
                error_type=type(error).__name__,
                error=str(error)[:300],
            )

    async def _drain(self) -> None:
        if not self._tasks:
            return
        if self.stop_timeout_s is None:
            await asyncio.gather(*self._tasks, return_exceptions=True)
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.stop_timeout_s)
        for task in pending:  # their leases run out: the items are claimed again
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
