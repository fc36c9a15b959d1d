"""The common housekeeping chores on the real PostgreSQL: each deletes what is due, nothing else,
and the scheduler counts runs, deleted rows and the last success."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import FrozenClock
from shared.db import create_engine, create_session_factory
from shared.db.idempotency import SqlaIdempotencyRecords, idempotency_table
from shared.housekeeping import (
    Chore,
    Housekeeping,
    idempotency_key_purge,
    inbox_purge,
    outbox_purge,
)
from shared.idempotency import IdempotentResponse
from shared.inbox import inbox_metadata
from shared.inbox.testing import apply_inbox_schema
from shared.observability.metrics import Metrics
from shared.outbox import Outbox, OutboxMessage, outbox_table
from shared.outbox.testing import drop_outbox, install_outbox
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
_metadata = MetaData()
_keys = idempotency_table(_metadata, name=f"hk_keys_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="housekeeping-tests")
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.drop_all)
    await engine.dispose()


async def test_the_key_purge_deletes_expired_keys_only(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    scope = f"hk:{uuid.uuid4()}"
    for key, at in (("expired", NOW - timedelta(hours=25)), ("live", NOW - timedelta(hours=23))):
        async with sessions() as session, session.begin():
            records = SqlaIdempotencyRecords(session, _keys, clock=FrozenClock(at))
            await records.claim(scope=scope, key=key, fingerprint="fp")
            await records.complete(scope=scope, key=key, response=IdempotentResponse(201))
    chore = idempotency_key_purge("t.purge_idempotency_keys", engine, _keys, interval_s=60)
    assert await chore.run() == 1
    async with engine.connect() as conn:
        left = (await conn.execute(select(_keys.c.key).where(_keys.c.scope == scope))).scalars()
        assert list(left) == ["live"]
    assert await chore.run() == 0


async def test_the_outbox_purge_deletes_rows_published_before_the_retention_only(
    engine: AsyncEngine,
) -> None:
    name = f"hk_outbox_{uuid.uuid4().hex[:8]}"
    await install_outbox(engine, name)
    table = outbox_table(MetaData(), name)
    try:
        sessions = create_session_factory(engine)
        async with sessions() as session, session.begin():
            ids = await Outbox(table, source="/ordo/test", notify=False).add_many(
                session,
                [OutboxMessage(topic="t", key=k, type="ordo.t.x.v1", payload={}) for k in "abc"],
            )
        published, recent, _unpublished = ids
        async with engine.begin() as conn:
            await conn.execute(
                update(table).where(table.c.id == published).values(published_at=NOW)
            )
            await conn.execute(
                update(table)
                .where(table.c.id == recent)
                .values(published_at=NOW + timedelta(days=1, hours=1))
            )
        # Two days on, with a day's retention: only the row published two days before is due.
        later = FrozenClock(NOW + timedelta(days=2))
        chore = outbox_purge(
            "t.purge_outbox", engine, table, retention_s=86_400, interval_s=60, clock=later
        )
        assert await chore.run() == 1
        async with engine.connect() as conn:
            left = set((await conn.execute(select(table.c.id))).scalars())
        assert left == set(ids) - {published}
    finally:
        await drop_outbox(engine, name)


async def test_the_inbox_purge_deletes_rows_older_than_the_retention_only(
    engine: AsyncEngine,
) -> None:
    await apply_inbox_schema(engine)
    messages = inbox_metadata.tables["inbox_messages"]
    group = f"hk-{uuid.uuid4().hex[:8]}"
    rows = [
        {
            "consumer_group": group,
            "event_id": event_id,
            "event_type": "ordo.t.x.v1",
            "topic": "t",
            "kafka_partition": 0,
            "kafka_offset": offset,
            "processed_at": NOW - timedelta(days=age),
        }
        for offset, (event_id, age) in enumerate((("old", 31), ("kept", 29)))
    ]
    async with engine.begin() as conn:
        await conn.execute(messages.insert(), rows)
    chore = inbox_purge("t.purge_inbox", engine, retention=timedelta(days=30), interval_s=60)
    assert await chore.run() >= 1  # other tests' rows that old go too
    async with engine.connect() as conn:
        left = await conn.execute(
            select(messages.c.event_id).where(messages.c.consumer_group == group)
        )
        assert list(left.scalars()) == ["kept"]


async def test_the_scheduler_counts_runs_rows_and_the_last_success() -> None:
    deleted = iter([3, 0])

    async def purge() -> int:
        return next(deleted)

    async def broken() -> int:
        raise ConnectionError("database down")

    metrics = Metrics(CollectorRegistry())
    keeper = Housekeeping(
        [Chore("t.purge_a", purge, 60), Chore("t.purge_b", broken, 60)],
        metrics=metrics,
        clock=FrozenClock(NOW),
    )
    assert await keeper.run_once() == {"t.purge_a": True, "t.purge_b": False}
    await keeper.run_once()

    def sample(name: str, job: str, **labels: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"job": job, **labels})

    assert sample("jobs_total", "t.purge_a", outcome="succeeded") == 2
    assert sample("jobs_total", "t.purge_b", outcome="failed") == 2
    assert sample("housekeeping_rows_deleted_total", "t.purge_a") == 3
    assert sample("housekeeping_last_success_timestamp_seconds", "t.purge_a") == NOW.timestamp()
    assert sample("housekeeping_last_success_timestamp_seconds", "t.purge_b") == 0  # never
    with pytest.raises(ValueError, match="unique"):
        Housekeeping([Chore("t.x", purge, 1), Chore("t.x", purge, 1)], metrics=metrics)
