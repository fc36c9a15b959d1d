"""Offset commits after the database commit, coalesced: at most one per interval per consumer.

A Kafka offset commit is a broker round trip and, on the broker, an append to
``__consumer_offsets``: at a saga's rates (one or two records per poll) a commit per poll was a
commit per record per consumer group, about 14 per order (issue 10). So each processed offset
is recorded, and a single task per consumer commits whatever is recorded, at most once per
``min_interval_s``: a burst coalesces into one commit, and a lone record after a quiet spell is
committed at once. A rebalance (``on_partitions_revoked``) and a stop flush what is recorded
without waiting for the interval.

Only offsets whose database transaction committed are ever recorded, so a crash can only lose
offset commits (at most an interval's worth), which means redelivery, which the inbox turns
into skipped duplicates.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

log = structlog.get_logger(__name__)


class OffsetCommitter:
    """Coalescing offset commits for any number of aiokafka consumers.

    Args:
        min_interval_s: the least time between two commits of one consumer (0: back to back,
            one in flight at a time).
    """

    def __init__(self, *, min_interval_s: float = 0.0) -> None:
        if min_interval_s < 0:
            raise ValueError("min_interval_s must not be negative")
        self._interval = min_interval_s
        self._pending: dict[int, dict[TopicPartition, int]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._last: dict[int, float] = {}
        self._hurry = asyncio.Event()  # set while flushing: pending commits go out at once

    def mark(self, consumer: Any, topic: str, partition: int, next_offset: int) -> None:
        """Record that every offset below ``next_offset`` is done and may be committed."""
        key = id(consumer)
        self._pending.setdefault(key, {})[TopicPartition(topic, partition)] = next_offset
        task = self._tasks.get(key)
        # done() and not "in the dict": a finished task's entry lingers until its callback runs.
        if task is None or task.done():
            task = asyncio.create_task(self._drain(key, consumer), name="inbox-offset-commit")
            task.add_done_callback(self._discard)
            self._tasks[key] = task

    def _discard(self, task: asyncio.Task[None]) -> None:
        # Drop finished tasks (and with them the stopped consumers they reference).
        for key, current in list(self._tasks.items()):
            if current is task:
                del self._tasks[key]

    async def _drain(self, key: int, consumer: Any) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self._last.get(key, -math.inf) + self._interval - loop.time()
            if wait > 0 and not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._hurry.wait()
            offsets = self._pending.pop(key, None)
            if not offsets:
                return
            self._last[key] = loop.time()
            try:
                await consumer.commit(offsets)
            except (KafkaError, IllegalStateError) as exc:
                # A rebalance took the partitions (or the consumer stopped): the new owner
                # restarts from the last committed offset, and the inbox skips what was applied.
                log.warning(
                    "offset commit failed; messages will be redelivered and deduplicated",
                    error=type(exc).__name__,
                    partitions=len(offsets),
                )

    async def flush(self) -> None:
        """Commit every recorded offset now and wait until it is (or its commit has failed)."""
        self._hurry.set()
        try:
            while tasks := [t for t in self._tasks.values() if not t.done()]:
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._hurry.clear()

    def forget(self, consumer: Any) -> None:
        """Drop what is pending for ``consumer`` (it stopped; its offsets can no longer commit)."""
        key = id(consumer)
        self._pending.pop(key, None)
        self._last.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()
