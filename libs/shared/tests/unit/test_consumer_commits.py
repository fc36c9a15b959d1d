"""Offset commits: after the database, pipelined one at a time, coalesced, failures absorbed."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import TopicPartition
from aiokafka.errors import CommitFailedError

from shared.inbox._commits import OffsetCommitter


class SlowConsumer:
    """Records each commit; every commit waits until the test lets it finish."""

    def __init__(self, fail: bool = False) -> None:
        self.commits: list[dict[TopicPartition, int]] = []
        self.release = asyncio.Event()
        self.fail = fail

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(dict(offsets))
        await self.release.wait()
        if self.fail:
            raise CommitFailedError("rebalanced")


async def test_marks_made_while_a_commit_is_in_flight_coalesce_into_the_next_one() -> None:
    consumer = SlowConsumer()
    committer = OffsetCommitter()
    committer.mark(consumer, "t", 0, 1)
    await asyncio.sleep(0)  # the first commit is now in flight
    committer.mark(consumer, "t", 0, 2)
    committer.mark(consumer, "t", 1, 7)
    committer.mark(consumer, "t", 0, 3)
    consumer.release.set()
    await committer.flush()
    assert consumer.commits == [
        {TopicPartition("t", 0): 1},
        {TopicPartition("t", 0): 3, TopicPartition("t", 1): 7},
    ]


async def test_a_failed_commit_is_dropped_and_later_marks_still_commit() -> None:
    consumer = SlowConsumer(fail=True)
    committer = OffsetCommitter()
    committer.mark(consumer, "t", 0, 5)
    consumer.release.set()
    await committer.flush()
    consumer.fail = False
    committer.mark(consumer, "t", 0, 6)
    await committer.flush()
    assert consumer.commits == [{TopicPartition("t", 0): 5}, {TopicPartition("t", 0): 6}]


async def test_each_consumer_commits_only_its_own_partitions() -> None:
    first, second = SlowConsumer(), SlowConsumer()
    first.release.set()
    second.release.set()
    committer = OffsetCommitter()
    committer.mark(first, "t", 0, 1)
    committer.mark(second, "t", 1, 9)
    await committer.flush()
    assert first.commits == [{TopicPartition("t", 0): 1}]
    assert second.commits == [{TopicPartition("t", 1): 9}]


async def test_forgetting_a_stopped_consumer_drops_its_pending_offsets() -> None:
    consumer = SlowConsumer()
    committer = OffsetCommitter()
    committer.mark(consumer, "t", 0, 1)
    await asyncio.sleep(0)
    committer.mark(consumer, "t", 0, 2)
    committer.forget(consumer)
    consumer.release.set()
    await committer.flush()
    assert consumer.commits == [{TopicPartition("t", 0): 1}]


class InstantConsumer:
    """Records each commit with the loop time it was made at."""

    def __init__(self) -> None:
        self.commits: list[tuple[float, dict[TopicPartition, int]]] = []

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append((asyncio.get_running_loop().time(), dict(offsets)))


async def test_marks_within_the_interval_wait_and_go_out_in_one_commit() -> None:
    consumer = InstantConsumer()
    committer = OffsetCommitter(min_interval_s=0.2)
    committer.mark(consumer, "t", 0, 1)  # after a quiet spell: committed at once
    await asyncio.sleep(0.01)
    assert [offsets for _, offsets in consumer.commits] == [{TopicPartition("t", 0): 1}]
    for offset in range(2, 12):
        committer.mark(consumer, "t", 0, offset)
        await asyncio.sleep(0.005)
    assert len(consumer.commits) == 1  # held back by the interval
    await asyncio.sleep(0.25)
    assert [offsets for _, offsets in consumer.commits] == [
        {TopicPartition("t", 0): 1},
        {TopicPartition("t", 0): 11},
    ]
    assert consumer.commits[1][0] - consumer.commits[0][0] >= 0.19


async def test_flush_commits_at_once_without_waiting_for_the_interval() -> None:
    consumer = InstantConsumer()
    committer = OffsetCommitter(min_interval_s=30)
    committer.mark(consumer, "t", 0, 1)
    await asyncio.sleep(0.01)
    committer.mark(consumer, "t", 0, 2)
    async with asyncio.timeout(1):  # not 30 s: a revoke or a stop must not wait
        await committer.flush()
    assert [offsets for _, offsets in consumer.commits] == [
        {TopicPartition("t", 0): 1},
        {TopicPartition("t", 0): 2},
    ]
    committer.mark(consumer, "t", 0, 3)  # after a flush the interval holds again
    await asyncio.sleep(0.01)
    assert len(consumer.commits) == 2
    await committer.flush()
    assert consumer.commits[-1][1] == {TopicPartition("t", 0): 3}


def test_a_negative_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="min_interval_s"):
        OffsetCommitter(min_interval_s=-1)
