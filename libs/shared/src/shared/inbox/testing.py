"""Helpers for tests of idempotent consumers against the real PostgreSQL and Kafka.

Services use them in their own integration tests: create the inbox tables without running the
service's Alembic history, publish a record shaped like the outbox relay's, read a topic from
the start, wait for a condition with a deadline (never a fixed sleep).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import SystemClock
from shared.ids import new_id
from shared.inbox._consumer import IdempotentConsumer
from shared.inbox._headers import (
    CE_DATACONTENTTYPE,
    CE_ID,
    CE_SOURCE,
    CE_SPECVERSION,
    CE_TIME,
    CE_TYPE,
    HeaderList,
    format_time,
)
from shared.inbox._schema import INBOX_MESSAGES, upgrade_inbox
from shared.inbox._topics import topic_partitions
from shared.messaging import create_producer
from shared.settings import KafkaSettings

__all__ = [
    "apply_inbox_schema",
    "cloud_event_headers",
    "publish_records",
    "read_topic",
    "running_consumer",
    "wait_until",
]


async def apply_inbox_schema(engine: AsyncEngine) -> None:
    """Run :func:`upgrade_inbox` through Alembic's operations unless the tables exist."""

    def upgrade(sync_conn: Connection) -> None:
        # Imported here: Alembic is needed by migrations and tests, not by running services.
        from alembic.operations import Operations  # noqa: PLC0415
        from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

        if inspect(sync_conn).has_table(INBOX_MESSAGES):
            return
        upgrade_inbox(Operations(MigrationContext.configure(sync_conn)))

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


def cloud_event_headers(
    event_type: str,
    *,
    event_id: str | None = None,
    source: str = "/ordo/tests",
    extra: Mapping[str, str] | None = None,
) -> HeaderList:
    """Return CloudEvents binary-mode headers like the outbox relay writes (JSON content)."""
    pairs = {
        CE_ID: event_id or str(new_id()),
        CE_TYPE: event_type,
        CE_SOURCE: source,
        CE_SPECVERSION: "1.0",
        CE_TIME: format_time(SystemClock().now()),
        CE_DATACONTENTTYPE: "application/json",
        **(extra or {}),
    }
    return [(name, value.encode()) for name, value in pairs.items()]


async def publish_records(
    kafka: KafkaSettings,
    topic: str,
    records: Sequence[tuple[bytes | None, Any, HeaderList]],
    *,
    partition: int | None = None,
) -> None:
    """Publish ``(key, value, headers)`` records in order; a non-bytes value is JSON-encoded."""
    producer = create_producer(kafka)
    await producer.start()
    try:
        for key, value, headers in records:
            body = (
                value if isinstance(value, bytes) or value is None else json.dumps(value).encode()
            )
            await producer.send_and_wait(
                topic, value=body, key=key, headers=headers, partition=partition
            )
    finally:
        await producer.stop()


async def read_topic(
    bootstrap_servers: str, topic: str, *, expected: int, timeout_s: float = 30.0
) -> list[Any]:
    """Read ``topic`` from the start until ``expected`` records arrived (or raise TimeoutError)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: list[Any] = []
    try:
        partitions = await topic_partitions(bootstrap_servers, topic)
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        for tp, offset in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, offset)
        async with asyncio.timeout(timeout_s):
            while len(found) < expected:
                batch = await consumer.getmany(timeout_ms=200)
                for records in batch.values():
                    found.extend(records)
    finally:
        await consumer.stop()
    return found


async def wait_until(
    condition: Callable[[], Awaitable[bool]],
    *,
    timeout_s: float = 30.0,
    interval_s: float = 0.05,
    message: str = "condition",
) -> None:
    """Poll ``condition`` until it holds; raise ``TimeoutError`` naming it after the deadline."""
    deadline = time.monotonic() + timeout_s
    while not await condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{message} not met within {timeout_s}s")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def running_consumer(
    kafka: KafkaSettings, *, graceful_timeout_s: float = 15.0, **options: Any
) -> AsyncIterator[IdempotentConsumer]:
    """Run an :class:`IdempotentConsumer` built from ``options``; stop it on exit.

    Stopping waits up to ``graceful_timeout_s`` for the batch in progress (then cancels it),
    flushes the offset commits and stops the producer.
    """
    consumer = IdempotentConsumer(kafka=kafka, **options)
    await consumer.start()
    try:
        yield consumer
    finally:
        await consumer.stop(graceful_timeout_s=graceful_timeout_s)
