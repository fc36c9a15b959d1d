"""What Kafka says: consumer groups' committed vs end offsets, dead-letter topics and records."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.inbox import DeadLetter, parse_dead_letter

__all__ = ["DlqRecord", "GroupLag", "consumer_lag", "dlq_topics", "read_dlq", "topic_depths"]

DLQ_SUFFIX = ".dlq"
_TIMEOUT_MS = 10_000


@dataclass(frozen=True, slots=True)
class GroupLag:
    """How far one consumer group is behind on one topic (summed over partitions)."""

    group: str
    topic: str
    lag: int
    partitions: int


@dataclass(frozen=True, slots=True)
class DlqRecord:
    """One record of a ``.dlq`` topic with what its dead-letter headers say."""

    topic: str
    partition: int
    offset: int
    timestamp: datetime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    letter: DeadLetter | None

    @property
    def event_type(self) -> str | None:
        """The CloudEvents type (``ce_type``) of the dead-lettered event."""
        for name, value in self.headers:
            if name == "ce_type":
                return value.decode("utf-8", "replace")
        return None


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        client_id="ordo-ops",
        group_id=None,
        enable_auto_commit=False,
        request_timeout_ms=_TIMEOUT_MS,
    )


async def consumer_lag(bootstrap: str) -> list[GroupLag]:
    """Every consumer group's lag per topic: end offset minus committed offset."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=_TIMEOUT_MS)
    consumer = _consumer(bootstrap)
    await admin.start()
    await consumer.start()
    try:
        groups = sorted(g[0] for g in await admin.list_consumer_groups())
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        every = {tp for offsets in committed.values() for tp in offsets}
        end = await consumer.end_offsets(list(every)) if every else {}
        lags: dict[tuple[str, str], list[int]] = {}
        for group, offsets in committed.items():
            for tp, offset in offsets.items():
                lags.setdefault((group, tp.topic), []).append(max(0, end[tp] - offset))
        return [GroupLag(g, t, sum(v), len(v)) for (g, t), v in sorted(lags.items())]
    finally:
        await consumer.stop()
        await admin.close()


async def dlq_topics(bootstrap: str) -> list[str]:
    """The dead-letter topics of the cluster (``<topic>.dlq``), sorted."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        return sorted(t for t in await consumer.topics() if t.endswith(DLQ_SUFFIX))
    finally:
        await consumer.stop()


async def topic_depths(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """Records each topic holds now (end minus beginning offsets, over its partitions)."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        depths: dict[str, int] = {}
        for topic in topics:
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            if not tps:
                await consumer._client.force_metadata_update()
                tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            first = await consumer.beginning_offsets(tps) if tps else {}
            end = await consumer.end_offsets(tps) if tps else {}
            depths[topic] = sum(end[tp] - first[tp] for tp in tps)
        return depths
    finally:
        await consumer.stop()


async def read_dlq(
    bootstrap: str, topic: str, *, partition: int | None = None, offset: int | None = None
) -> AsyncIterator[DlqRecord]:
    """Yield the records of ``topic`` (one partition, from ``offset``) up to its end as of now."""
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        partitions = sorted(consumer.partitions_for_topic(topic) or ())
        if not partitions:
            raise LookupError(f"topic {topic!r} does not exist")
        if partition is not None:
            partitions = [p for p in partitions if p == partition]
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        first = await consumer.beginning_offsets(tps)
        end = await consumer.end_offsets(tps)
        for tp in tps:
            consumer.seek(tp, max(first[tp], offset or 0) if offset is not None else first[tp])
        remaining = {tp for tp in tps if await consumer.position(tp) < end[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=_TIMEOUT_MS)
            if not batch:
                raise TimeoutError(f"no records from {topic} within {_TIMEOUT_MS / 1000:.0f}s")
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield _record(record)
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()


def _record(record: Any) -> DlqRecord:
    headers = tuple((str(k), bytes(v or b"")) for k, v in record.headers)
    return DlqRecord(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        timestamp=datetime.fromtimestamp(record.timestamp / 1000, tz=UTC),
        key=record.key,
        value=record.value,
        headers=headers,
        letter=parse_dead_letter(list(headers)),
    )
