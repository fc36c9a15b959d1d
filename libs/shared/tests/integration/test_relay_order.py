"""Per-key order with several relay replicas, lane rebalancing, and late-committing transactions."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.observability.metrics import Metrics
from shared.outbox import (
    CE_ID,
    Outbox,
    OutboxMessage,
    OutboxRelay,
    RelayConfig,
    lane_for,
    outbox_table,
    relay_producer_factory,
)
from shared.outbox.testing import Record, drop_outbox, eventually, install_outbox, read_topic
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

# Small batches and fast rebalancing: many rounds, many hand-overs.
CONFIG = RelayConfig(batch_size=40, publishers=2, poll_interval_s=0.05, rebalance_interval_s=0.2)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-relay-order")
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield outbox_table(MetaData(), name)
    await drop_outbox(engine, name)


class Replica:
    """One relay replica running in a task, with its own metrics registry."""

    def __init__(self, endpoints: Endpoints, database: DatabaseSettings, table: Table) -> None:
        kafka = KafkaSettings(bootstrap_servers=endpoints.kafka_bootstrap)
        self.registry = CollectorRegistry()
        self.relay = OutboxRelay(
            database=database,
            producer_factory=relay_producer_factory(kafka, "order"),
            service="order-test",
            table=table,
            config=CONFIG,
            metrics=Metrics(self.registry),
        )
        self.task = asyncio.create_task(self.relay.run())

    @property
    def published(self) -> float:
        return (
            self.registry.get_sample_value("outbox_published_total", {"service": "order-test"}) or 0
        )

    async def stop(self) -> None:
        self.relay.stop()
        await asyncio.wait_for(self.task, 30)


async def all_published(engine: AsyncEngine, table: Table) -> bool:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        return (await conn.execute(query)).scalar_one() == 0


def first_copies_per_key(records: list[Record]) -> dict[str, list[int]]:
    """Each key's event numbers in log order, keeping the first copy of every event."""
    seen: set[str] = set()
    per_key: dict[str, list[int]] = {}
    for record in records:  # sorted by partition and offset; a key lives in one partition
        event_id = record.headers[CE_ID]
        if event_id in seen:
            continue  # a duplicate: the inbox drops it
        seen.add(event_id)
        per_key.setdefault(record.key or "", []).append(json.loads(record.value)["n"])
    return per_key


@pytest.mark.parametrize("seed", [7, 2026])
async def test_two_replicas_keep_per_key_order_while_lanes_move(
    seed: int, ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, new_topic
) -> None:
    rng = random.Random(seed)
    topic = await new_topic(partitions=6)
    outbox = Outbox(table, source="/ordo/test")
    keys = [f"agg-{uuid.UUID(int=rng.getrandbits(128))}" for _ in range(rng.randint(80, 160))]
    sent: dict[str, int] = dict.fromkeys(keys, 0)

    async def writer(owned: list[str], transactions: int) -> None:
        # One writer per key set: a key's events commit in the order they are numbered, as the
        # aggregate's row lock guarantees in a service.
        for _ in range(transactions):
            batch = []
            for key in rng.sample(owned, k=min(len(owned), rng.randint(1, 3))):
                for _ in range(rng.randint(1, 3)):
                    batch.append(
                        OutboxMessage(topic=topic, key=key, type="t.v1", payload={"n": sent[key]})
                    )
                    sent[key] += 1
            async with engine.begin() as conn:
                await outbox.add_many(conn, batch)
            await asyncio.sleep(rng.random() * 0.01)

    a = Replica(ordo_endpoints, ordo_database, table)
    b = Replica(ordo_endpoints, ordo_database, table)
    writers = [asyncio.create_task(writer(keys[i::4], rng.randint(60, 100))) for i in range(4)]
    try:
        await eventually(lambda: len(a.relay.owned_lanes) == len(b.relay.owned_lanes) == 32)
        c = Replica(ordo_endpoints, ordo_database, table)  # joins: lanes move to it
        await asyncio.sleep(1.0)
        await a.stop()  # leaves: its lanes move to b and c
        await asyncio.gather(*writers)
        await eventually(lambda: all_published(engine, table), timeout_s=60)
        assert a.published > 0
        assert b.published > 0
        assert c.published > 0
    finally:
        for writer_task in writers:
            writer_task.cancel()
        for replica in (a, b):
            if not replica.task.done():
                await replica.stop()
        if "c" in locals():
            await c.stop()

    total = sum(sent.values())
    records = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=total, settle_s=0.5)
    per_key = first_copies_per_key(records)
    assert per_key == {key: list(range(count)) for key, count in sent.items() if count}


async def test_replicas_share_lanes_fairly_and_take_over_from_a_leaver(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, table
) -> None:
    a = Replica(ordo_endpoints, ordo_database, table)
    b = Replica(ordo_endpoints, ordo_database, table)
    try:
        await eventually(lambda: len(a.relay.owned_lanes) == len(b.relay.owned_lanes) == 32)
        assert not a.relay.owned_lanes & b.relay.owned_lanes
        await b.stop()
        await eventually(lambda: len(a.relay.owned_lanes) == 64)
    finally:
        await a.stop()
        if not b.task.done():
            await b.stop()


async def test_a_row_whose_transaction_commits_late_is_not_skipped(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, new_topic
) -> None:
    topic = await new_topic(partitions=1)
    outbox = Outbox(table, source="/ordo/test")
    # Two keys of one lane: a relay reading "seq > last published" would skip the late row.
    key_late = "late-0"
    key_early = next(
        f"early-{i}"
        for i in range(10_000)
        if lane_for(f"early-{i}", CONFIG.lanes) == lane_for(key_late, CONFIG.lanes)
    )
    late = OutboxMessage(topic=topic, key=key_late, type="t.v1", payload={"n": "late"})
    early = OutboxMessage(topic=topic, key=key_early, type="t.v1", payload={"n": "early"})
    replica = Replica(ordo_endpoints, ordo_database, table)
    slow = await engine.connect()
    try:
        slow_tx = await slow.begin()
        await outbox.add(slow, late)  # takes the lower seq, commits last
        async with engine.begin() as conn:
            await outbox.add(conn, early)
        first = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=1, settle_s=0.5)
        assert [r.headers[CE_ID] for r in first] == [str(early.event_id)]
        await slow_tx.commit()
        both = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=2)
    finally:
        await slow.close()
        await replica.stop()
    assert [r.headers[CE_ID] for r in both] == [str(early.event_id), str(late.event_id)]
    async with engine.connect() as conn:
        seqs = dict((await conn.execute(select(table.c.id, table.c.seq))).all())
    assert seqs[late.event_id] < seqs[early.event_id]
