"""Test helpers for services that use the outbox: install the table, read a topic back.

Not imported by ``shared.outbox`` itself; import it from tests only.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.outbox._schema import DEFAULT_TABLE, downgrade_outbox, upgrade_outbox

__all__ = ["Record", "drop_outbox", "eventually", "install_outbox", "read_topic"]


async def install_outbox(
    engine: AsyncEngine, name: str = DEFAULT_TABLE, *, schema: str | None = None
) -> None:
    """Create an outbox table through the same helper a service's Alembic revision calls."""

    def upgrade(conn: Connection) -> None:
        upgrade_outbox(Operations(MigrationContext.configure(conn)), name, schema=schema)

    async with engine.begin() as conn:
        await conn.run_sync(upgrade)


async def drop_outbox(
    engine: AsyncEngine, name: str = DEFAULT_TABLE, *, schema: str | None = None
) -> None:
    """Drop an outbox table through the migration's downgrade helper."""

    def downgrade(conn: Connection) -> None:
        downgrade_outbox(Operations(MigrationContext.configure(conn)), name, schema=schema)

    async with engine.begin() as conn:
        await conn.run_sync(downgrade)


@dataclass(frozen=True, slots=True)
class Record:
    """One Kafka record as read back by :func:`read_topic`."""

    partition: int
    offset: int
    key: str | None
    value: bytes
    headers: dict[str, str]


async def read_topic(
    bootstrap_servers: str,
    topic: str,
    *,
    at_least: int,
    timeout_s: float = 30.0,
    settle_s: float = 0.0,
) -> list[Record]:
    """Read ``topic`` from the beginning (no consumer group) until ``at_least`` records came.

    Keeps reading ``settle_s`` more seconds to catch late duplicates. Records are returned per
    partition in log order. Raises ``TimeoutError`` when too few arrive within ``timeout_s``.
    """
    # No group: aiokafka assigns every partition and starts from the earliest offset.
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    records: list[Record] = []
    try:
        async with asyncio.timeout(timeout_s):
            while len(records) < at_least:
                await _poll(consumer, records)
        loop = asyncio.get_running_loop()
        end = loop.time() + settle_s
        while loop.time() < end:
            await _poll(consumer, records)
    finally:
        await consumer.stop()
    return sorted(records, key=lambda r: (r.partition, r.offset))


async def _poll(consumer: AIOKafkaConsumer, records: list[Record]) -> None:
    batches = await consumer.getmany(timeout_ms=200)
    for batch in batches.values():
        for message in batch:
            records.append(
                Record(
                    partition=message.partition,
                    offset=message.offset,
                    key=message.key.decode() if message.key is not None else None,
                    value=message.value or b"",
                    headers={k: v.decode() for k, v in (message.headers or ())},
                )
            )


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], *, timeout_s: float = 30.0, every_s: float = 0.05
) -> None:
    """Poll ``check`` (sync or async) until it returns True; ``TimeoutError`` after ``timeout_s``.

    Tests wait for a state of a real server this way, never by sleeping a fixed time.
    """
    async with asyncio.timeout(timeout_s):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return
            await asyncio.sleep(every_s)
