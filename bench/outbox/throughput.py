"""Sustained throughput of three ways to get the same records onto the same topic.

- raw: a bare aiokafka producer with the relay's settings sends prebuilt records (the same
  key, value and headers the relay would send) and waits for every acknowledgement;
- relay: ``shared.outbox.OutboxRelay`` drains a committed backlog of the same rows;
- peer: faststream-outbox relays the same rows (same payload bytes and headers) through a
  FastStream Kafka publisher with the same producer settings.

Each side runs in its own process (see ``common.run_child``). The clock starts at the commit of
the backlog (relay, peer) or at the first send (raw) and stops when the last row is published
(relay, peer: polled every 10 ms the same way) or acknowledged (raw).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
from common import Env, message, outbox_for
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, insert, text

from shared.db import create_engine
from shared.observability.metrics import Metrics
from shared.outbox import PgNotifyDoorbell, RelayConfig, relay_producer_factory, run_relay
from shared.outbox.testing import drop_outbox, install_outbox

_POLL_S = 0.01
_CHUNK = 2000


def _records(
    topic: str, n: int
) -> list[tuple[bytes, bytes, list[tuple[str, bytes]], dict[str, str]]]:
    outbox = outbox_for("unused")
    records = []
    for i in range(n):
        row = outbox.to_row(message(topic, i))
        header_map = json.loads(row["headers"])
        headers = [(k, v.encode()) for k, v in header_map.items()]
        records.append((row["key"].encode(), row["payload"].encode(), headers, header_map))
    return records


async def raw(env: Env, topic: str, n: int, *, chunk: int = 0) -> dict[str, Any]:
    """Send ``n`` prebuilt records; ``chunk`` > 0 waits for acknowledgements every chunk."""
    records = _records(topic, n)
    producer = relay_producer_factory(env.kafka, "bench-raw")()
    await producer.start()
    try:
        warm = [await producer.send(topic, v, key=k, headers=h) for k, v, h, _ in records[:500]]
        await asyncio.gather(*warm)
        started = time.perf_counter()
        futures = []
        for i, (key, value, headers, _) in enumerate(records):
            futures.append(await producer.send(topic, value, key=key, headers=headers))
            if chunk and (i + 1) % chunk == 0:
                await asyncio.gather(*futures)
                futures = []
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return {"rows": n, "seconds": elapsed, "rate": n / elapsed}


async def _wait_empty(env: Env, sql: str, timeout_s: float) -> float:
    """Poll ``sql`` (an EXISTS: cheap for the server) until it is false; return when."""
    conn = await asyncpg.connect(env.database.dsn())
    try:
        deadline = time.perf_counter() + timeout_s
        while time.perf_counter() < deadline:
            if not await conn.fetchval(sql):
                return time.perf_counter()
            await asyncio.sleep(_POLL_S)
    finally:
        await conn.close()
    raise TimeoutError(sql)


async def relay(
    env: Env, topic: str, n: int, *, batch_size: int = 1000, publishers: int = 2
) -> dict[str, Any]:
    """Drain a committed backlog of ``n`` rows with one replica, through ``run_relay``."""
    table = f"bench_outbox_{uuid.uuid4().hex[:8]}"
    engine = create_engine(env.database, application_name="bench-writer")
    await install_outbox(engine, table)
    outbox = outbox_for(table)
    doorbell = PgNotifyDoorbell(env.database, table)
    config = RelayConfig(batch_size=batch_size, publishers=publishers, metrics_interval_s=30)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_relay(
            database=env.database,
            kafka=env.kafka,
            service="bench",
            table=table,
            config=config,
            metrics=Metrics(CollectorRegistry()),
            handle_signals=False,
            stop=stop,
        )
    )
    pending = f"SELECT EXISTS (SELECT FROM {table} WHERE published_at IS NULL)"  # noqa: S608
    try:
        async with engine.begin() as conn:  # warm-up: lanes owned, producer started
            await outbox.add(conn, message(topic, 10**9))
        doorbell.ring()
        await _wait_empty(env, pending, 30)
        messages = [message(topic, i) for i in range(n)]
        async with engine.begin() as conn:
            for start in range(0, n, _CHUNK):
                await outbox.add_many(conn, messages[start : start + _CHUNK])
        doorbell.ring()
        started = time.perf_counter()
        finished = await _wait_empty(env, pending, 300)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await doorbell.close()
        await drop_outbox(engine, table)  # no autovacuum of it during the next side
        await engine.dispose()
    elapsed = finished - started
    return {"rows": n, "seconds": elapsed, "rate": n / elapsed}


async def peer(
    env: Env,
    topic: str,
    n: int,
    *,
    max_workers: int = 8,
    fetch_batch_size: int = 500,
    terminal_flush_batch_size: int = 100,
) -> dict[str, Any]:
    """Drain the same backlog with faststream-outbox relaying to Kafka."""
    from faststream.kafka import KafkaBroker, KafkaResponse  # noqa: PLC0415
    from faststream_outbox import OutboxBroker, make_outbox_table  # noqa: PLC0415
    from faststream_outbox.annotations import OutboxMessage  # noqa: PLC0415

    name = f"peer_outbox_{uuid.uuid4().hex[:8]}"
    metadata = MetaData()
    peer_table = make_outbox_table(metadata, table_name=name)
    # The peer holds one pooled connection per worker plus one for fetching.
    database = env.database.model_copy(update={"pool_size": max_workers + 4})
    engine = create_engine(database, application_name="bench-peer")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)

    broker = OutboxBroker(engine, outbox_table=peer_table, graceful_timeout=10)
    kafka = KafkaBroker(
        env.bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=0,
        max_batch_size=256 * 1024,
        logger=None,
    )
    publisher = kafka.publisher(topic)

    @publisher
    @broker.subscriber(
        "bench",
        max_workers=max_workers,
        fetch_batch_size=fetch_batch_size,
        terminal_flush_batch_size=terminal_flush_batch_size,
        min_fetch_interval=0.05,
        max_fetch_interval=0.5,
    )
    async def forward(msg: OutboxMessage) -> KafkaResponse:
        headers = dict(msg.headers)
        return KafkaResponse(msg.body, key=headers["ce_subject"].encode(), headers=headers)

    records = _records(topic, n)
    rows = [{"queue": "bench", "payload": v, "headers": h} for _, v, _, h in records]
    pending = f"SELECT EXISTS (SELECT FROM {name})"  # noqa: S608
    await kafka.start()
    await broker.start()
    try:
        async with engine.begin() as conn:  # warm-up
            await conn.execute(insert(peer_table), rows[:1])
        await _wait_empty(env, pending, 30)
        async with engine.begin() as conn:
            for start in range(0, n, _CHUNK):
                await conn.execute(insert(peer_table), rows[start : start + _CHUNK])
            # What the peer's own publish() does: wake its LISTENing fetch loop on commit.
            await conn.execute(text("SELECT pg_notify(:c, 'bench')"), {"c": f"outbox_{name}"})
        started = time.perf_counter()
        finished = await _wait_empty(env, pending, 300)
    finally:
        await broker.stop()
        await kafka.stop()
        async with engine.begin() as conn:  # no autovacuum of it during the next side
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
    elapsed = finished - started
    return {"rows": n, "seconds": elapsed, "rate": n / elapsed}
