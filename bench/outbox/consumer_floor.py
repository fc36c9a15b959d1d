"""One saga step against its floor: the chassis consumer vs raw aiokafka + asyncpg, batched.

The step is the shape of every saga handler: claim the event id in the inbox, update one domain
row, insert one outbox row, commit, then commit the Kafka offset. Both sides apply the same
records (keys over 1,000 aggregates, ~256-byte JSON, the outbox's CloudEvents headers) from the
start of one topic, each in a consumer group of its own:

- floor: a raw ``AIOKafkaConsumer`` and one asyncpg connection; per poll and partition, one
  transaction of three statements over ``unnest`` arrays (inbox claim, update, outbox insert),
  then the offset commit (FACTS.md, "The floor of one saga step");
- chassis: ``shared.inbox.IdempotentConsumer`` with the chassis' unit of work and outbox, the
  handler doing the update through the session and recording one outbox message, as services'
  handlers do.

CPU is read from /proc: this process (each side runs alone in it) plus every PostgreSQL process
(the backends do the SQL); the idle rate of both is measured first and subtracted. Prints
``consumer_vs_floor=<ratio of CPU per record>``.
Run: ``uv run python bench/outbox/consumer_floor.py`` (``BENCH_RECORDS`` records, 20,000).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Integer, MetaData, Table, Text, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import SqlaUnitOfWork, create_engine, create_session_factory
from shared.inbox import InboxEvent, ensure_inbox_topics
from shared.inbox.testing import apply_inbox_schema, cloud_event_headers, running_consumer
from shared.messaging import create_producer, create_topics, delete_topics
from shared.observability.metrics import Metrics
from shared.outbox import Outbox, OutboxMessage, outbox_table, upgrade_outbox
from shared.settings import KafkaSettings
from shared.testing import resolve_endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

ROOT = Path(__file__).resolve().parents[2]
EVENT = "ordo.bench.stock_reserved.v1"
RECORDS = int(os.environ.get("BENCH_RECORDS", "20000"))
PARTITIONS = 3
AGGREGATES = 1000
TICK = os.sysconf("SC_CLK_TCK")

metadata = MetaData()
aggregates = Table(
    "bench_aggregates",
    metadata,
    Column("id", Text, primary_key=True),
    Column("n", Integer, nullable=False),
)
outbox = outbox_table(metadata)


def cpu_s(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def postgres_pids() -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in {"postgres", "postmaster"}:
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def measured() -> float:
    """CPU seconds so far of this process and every PostgreSQL process alive now."""
    return time.process_time() + cpu_s(postgres_pids())


async def idle_rate(seconds: float = 5.0) -> float:
    start = measured()
    await asyncio.sleep(seconds)
    return (measured() - start) / seconds


async def publish(kafka: KafkaSettings, topic: str) -> None:
    producer = create_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        pad = "x" * 200
        futures = [
            await producer.send(
                topic,
                value=json.dumps(
                    {"aggregate": f"a-{i % AGGREGATES}", "seq": i, "pad": pad}
                ).encode(),
                key=f"a-{i % AGGREGATES}".encode(),
                headers=cloud_event_headers(EVENT),
            )
            for i in range(RECORDS)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


_FLOOR_TX = (
    """INSERT INTO inbox_messages (consumer_group, event_id, event_type, topic, kafka_partition,
       kafka_offset, processed_at)
       SELECT $1, e, $2, $3, $4, o, now() FROM unnest($5::text[], $6::bigint[]) AS t(e, o)
       ON CONFLICT DO NOTHING""",
    "UPDATE bench_aggregates a SET n = a.n + c.k FROM (SELECT id, count(*) AS k FROM"
    " unnest($1::text[]) AS id GROUP BY id) c WHERE a.id = c.id",
    """INSERT INTO outbox (id, lane, topic, key, payload, headers)
       SELECT gen_random_uuid(), 0, 'bench.out', k, p::json, '{}'::json
       FROM unnest($1::text[], $2::text[]) AS t(k, p)""",
)


async def floor_side(dsn: str, kafka: KafkaSettings, topic: str) -> float:
    """Apply every record with the raw floor; return seconds of CPU used (with PostgreSQL)."""
    group = f"floor-{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.bootstrap_servers,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    done = 0
    start = measured()
    try:
        while done < RECORDS:
            polled = await consumer.getmany(timeout_ms=1000, max_records=500)
            for tp, records in polled.items():
                ids = [dict(r.headers)["ce_id"].decode() for r in records]
                keys = [r.key.decode() for r in records]
                async with conn.transaction():
                    await conn.execute(
                        _FLOOR_TX[0],
                        group,
                        EVENT,
                        topic,
                        tp.partition,
                        ids,
                        [r.offset for r in records],
                    )
                    await conn.execute(_FLOOR_TX[1], keys)
                    await conn.execute(_FLOOR_TX[2], keys, [r.value.decode() for r in records])
                await consumer.commit({tp: records[-1].offset + 1})
                done += len(records)
        return measured() - start
    finally:
        await consumer.stop()
        await conn.close()


async def chassis_side(engine: AsyncEngine, kafka: KafkaSettings, topic: str) -> float:
    """Apply every record with the chassis consumer; return seconds of CPU used."""
    group = f"chassis-{uuid.uuid4().hex[:8]}"
    await ensure_inbox_topics(kafka.bootstrap_servers, topic, group, partitions=PARTITIONS)
    sessions = create_session_factory(engine)
    box = Outbox(outbox, source="/ordo/bench")
    applied = 0
    finished = asyncio.Event()
    bump = text("UPDATE bench_aggregates SET n = n + 1 WHERE id = :id")

    async def on_stock_reserved(event: InboxEvent, uow: SqlaUnitOfWork) -> None:
        nonlocal applied
        await uow.session.execute(bump, {"id": event.data["aggregate"]})
        uow.publish(OutboxMessage("bench.out", event.data["aggregate"], EVENT, event.data))
        applied += 1
        if applied >= RECORDS:
            finished.set()

    def unit_of_work() -> SqlaUnitOfWork:
        return SqlaUnitOfWork(sessions, outbox=box, mapper=lambda e: e)  # type: ignore[arg-type, return-value]

    start = measured()
    async with running_consumer(
        kafka,
        topic=topic,
        group=group,
        handlers={EVENT: on_stock_reserved},
        unit_of_work=unit_of_work,
        metrics=Metrics(CollectorRegistry()),
    ):
        await asyncio.wait_for(finished.wait(), timeout=600)
    return measured() - start


async def main() -> None:
    endpoints = resolve_endpoints(ROOT)
    admin_dsn, bootstrap = endpoints.postgres_admin_dsn, endpoints.kafka_bootstrap
    db = f"ordo_bench_floor_{uuid.uuid4().hex[:8]}"
    await create_database(admin_dsn, db)
    settings = database_settings(admin_dsn, db)
    engine = create_engine(settings, application_name="bench-consumer-floor")
    kafka = KafkaSettings(bootstrap_servers=bootstrap, client_id="bench-floor")
    topic = f"bench.floor.{uuid.uuid4().hex[:8]}"
    try:
        await apply_inbox_schema(engine)
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: metadata.create_all(c, tables=[aggregates]))
            await conn.run_sync(_create_outbox)
            await conn.execute(
                text(
                    "INSERT INTO bench_aggregates SELECT 'a-' || g, 0 FROM generate_series(0, :n) g"
                ),
                {"n": AGGREGATES - 1},
            )
        await create_topics(bootstrap, [topic], partitions=PARTITIONS)
        await publish(kafka, topic)
        idle = await idle_rate()
        dsn = admin_dsn.rsplit("/", 1)[0] + "/" + db
        sides: dict[str, float] = {}
        for label, side in (
            ("floor", lambda: floor_side(dsn, kafka, topic)),
            ("chassis", lambda: chassis_side(engine, kafka, topic)),
        ):
            wall = time.perf_counter()
            used = await side()
            wall = time.perf_counter() - wall
            sides[label] = max(used - idle * wall, 0.0) / RECORDS * 1000
            print(f"{label}: {RECORDS} records in {wall:.1f} s, {sides[label]:.3f} ms CPU/record")
        print(f"idle: {idle * 1000:.1f} ms CPU/s subtracted")
        print(f"summary: consumer_vs_floor={sides['chassis'] / sides['floor']:.2f}")
    finally:
        await delete_topics(bootstrap, [topic])
        await engine.dispose()
        await drop_database(admin_dsn, db)


def _create_outbox(sync_conn: Any) -> None:
    from alembic.operations import Operations  # noqa: PLC0415
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415

    upgrade_outbox(Operations(MigrationContext.configure(sync_conn)))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
