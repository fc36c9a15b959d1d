"""Offset commits after the database commit, pipelined: at most one commit in flight per consumer.

A Kafka offset commit is a broker round trip (about 1 ms here), as long as the database
transaction itself. Awaiting it per message would halve throughput; committing on a timer would
leave offsets uncommitted for a while after the last message. Instead each processed offset is
recorded, and a single task per consumer commits whatever is recorded, again and again, until
nothing is left: while one commit is in flight the next messages coalesce into the following
one, and the last message of a burst is committed one round trip after its database commit.

Only offsets whose database transaction committed are ever recorded, so a crash can only lose
offset commits, which means redelivery, which the inbox turns into skipped duplicates.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from aiokafka import TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError

log = structlog.get_logger(__name__)


class OffsetCommitter:
    """Coalescing, pipelined offset commits for any number of aiokafka consumers."""

    def __init__(self) -> None:
        self._pending: dict[int, dict[TopicPartition, int]] = {}
        self._tasks: dict[int, asyncio.Task[None]] = {}

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
        while offsets := self._pending.pop(key, None):
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
        """Wait until every recorded offset has been committed (or its commit has failed)."""
        while tasks := [t for t in self._tasks.values() if not t.done()]:
            await asyncio.gather(*tasks, return_exceptions=True)

    def forget(self, consumer: Any) -> None:
        """Drop what is pending for ``consumer`` (it stopped; its offsets can no longer commit)."""
        key = id(consumer)
        self._pending.pop(key, None)
        task = self._tasks.pop(key, None)
        if task is not None and not task.done():
            task.cancel()
