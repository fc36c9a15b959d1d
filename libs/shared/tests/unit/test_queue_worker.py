"""The chassis' queue worker on an in-memory queue: slots, wake-ups, failed claims, stopping."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import FrozenClock
from shared.queue_worker import Batch, QueueWorker

NOW = datetime(2026, 12, 6, tzinfo=UTC)


class ListWorker(QueueWorker[int]):
    """Claims from a list; each item waits for its own event to finish."""

    def __init__(self, items: Sequence[int], **options: object) -> None:
        super().__init__(name="test.worker", clock=FrozenClock(NOW), **options)  # type: ignore[arg-type]
        self.queue = list(items)
        self.gates: dict[int, asyncio.Event] = {}
        self.done: list[int] = []
        self.released_items: list[int] = []
        self.claims: list[int] = []
        self.failures = 0
        self.next_due_at: datetime | None = None

    async def claim(self, free: int) -> Batch[int]:
        self.claims.append(free)
        if self.failures:
            self.failures -= 1
            raise ConnectionError("database down")
        taken, self.queue = self.queue[:free], self.queue[free:]
        for item in taken:
            self.gates[item] = asyncio.Event()
        return Batch(taken, next_due_at=self.next_due_at, more=bool(taken))

    async def handle(self, item: int) -> None:
        await self.gates[item].wait()
        if item < 0:
            raise ValueError("a poison item")
        self.done.append(item)

    def released(self, item: int) -> None:
        self.released_items.append(item)


async def until(condition, timeout_s: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout_s):
        while not condition():  # noqa: ASYNC110 - polls plain state the worker changes
            await asyncio.sleep(0.005)


async def test_items_fill_the_slots_and_a_finished_one_frees_its_slot_at_once() -> None:
    worker = ListWorker([1, 2, 3], concurrency=2, poll_interval_s=60)
    task = asyncio.create_task(worker.run())
    await until(lambda: worker.in_flight == 2)
    assert worker.claims == [2]  # all slots taken: it sleeps (up to the poll interval)
    worker.gates[1].set()
    await until(lambda: 3 in worker.gates)  # the finished item rang: item 3 claimed at once
    for gate in worker.gates.values():
        gate.set()
    await until(lambda: sorted(worker.done) == [1, 2, 3])
    worker.stop()
    await task
    assert sorted(worker.released_items) == [1, 2, 3]


async def test_it_sleeps_until_the_next_item_is_due_and_a_ring_wakes_it() -> None:
    worker = ListWorker([], concurrency=2, poll_interval_s=60)
    worker.next_due_at = NOW + timedelta(seconds=30)
    assert await worker._round() == 30  # noqa: SLF001 - the sleep the loop would take
    worker.next_due_at = NOW - timedelta(seconds=1)
    assert await worker._round() == worker.min_wait_s  # noqa: SLF001
    worker.next_due_at = None  # nothing due: it sleeps the poll interval, unless rung
    task = asyncio.create_task(worker.run())
    await until(lambda: len(worker.claims) == 3)
    worker.queue.append(7)
    worker.wakeup.ring()
    await until(lambda: 7 in worker.gates)
    worker.gates[7].set()
    worker.stop()
    await task
    assert worker.done == [7]


async def test_a_failed_claim_or_item_never_ends_the_loop() -> None:
    worker = ListWorker([-1, 5], concurrency=4, poll_interval_s=60, error_backoff_s=0.01)
    worker.failures = 2
    task = asyncio.create_task(worker.run())
    await until(lambda: len(worker.gates) == 2)
    assert worker.claims[:3] == [4, 4, 4]  # two failures, backed off, then claimed
    for gate in worker.gates.values():
        gate.set()
    await until(lambda: worker.done == [5])
    worker.stop()
    await task
    assert sorted(worker.released_items) == [-1, 5]


@pytest.mark.parametrize(("stop_timeout_s", "finished"), [(None, [1]), (0.01, [])])
async def test_stopping_waits_for_items_in_flight_or_cancels_them_after_the_timeout(
    stop_timeout_s: float | None, finished: list[int]
) -> None:
    worker = ListWorker([1], concurrency=1, poll_interval_s=60, stop_timeout_s=stop_timeout_s)
    task = asyncio.create_task(worker.run())
    await until(lambda: worker.in_flight == 1)
    worker.stop()
    await asyncio.sleep(0.05)
    worker.gates[1].set()  # too late for a worker that cancels after 10 ms
    await task
    assert worker.done == finished
    assert worker.released_items == [1]
    assert worker.in_flight == 0
