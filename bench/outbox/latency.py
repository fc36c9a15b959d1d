"""Commit -> consumer-handler latency at a fixed rate, and what each wake-up costs the writers.

Topology of one latency run (every part a process of its own unless said otherwise):

- writer (this process): use cases (a domain row + one outbox row per transaction) at a fixed
  rate, open loop, from 16 connections; it notes the wall-clock time each commit returned;
- relay: ``run_relay``-style replica, woken by the mode under test;
- consumer: a plain aiokafka consumer whose handler notes the wall-clock time of each event.

Modes: ``doorbell`` (post-commit, debounced pg_notify; the default), ``tx-notify``
(pg_notify inside the business transaction), ``in-process`` (relay task in the writer process,
rung by the unit of work), ``poll`` (no signal; 50 ms polling).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer
from common import Env, message, outbox_for, percentile
from prometheus_client import CollectorRegistry

from shared.db import create_engine
from shared.observability.metrics import Metrics
from shared.outbox import (
    Doorbell,
    OutboxRelay,
    PgNotifyDoorbell,
    RelayConfig,
    RelayWakeup,
    relay_producer_factory,
)
from shared.outbox.testing import eventually, install_outbox

MODES = ("doorbell", "tx-notify", "in-process", "poll")
_CHILD = str(Path(__file__).with_name("child.py"))


def _relay_config(mode: str) -> RelayConfig:
    if mode == "poll":
        return RelayConfig(listen=False, poll_interval_s=0.05)
    return RelayConfig(listen=mode != "in-process")


async def relay_process(env: Env, table: str, mode: str) -> dict[str, Any]:
    """A relay replica in its own process, until SIGTERM."""
    from shared.outbox import run_relay  # noqa: PLC0415

    await run_relay(
        database=env.database,
        kafka=env.kafka,
        service="bench",
        table=table,
        config=_relay_config(mode),
        metrics=Metrics(CollectorRegistry()),
    )
    return {}


async def consume(env: Env, topic: str, expected: int, timeout_s: float) -> dict[str, Any]:
    """The handler notes when each event arrived; prints READY once partitions are assigned."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=env.bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=100,
    )
    await consumer.start()
    received: dict[str, float] = {}

    def handle(headers: list[tuple[str, bytes]]) -> None:
        received.setdefault(dict(headers)["ce_id"].decode(), time.time())

    try:
        while not consumer.assignment():
            await consumer.getmany(timeout_ms=50)
        sys.stdout.write("READY\n")
        sys.stdout.flush()
        deadline = time.monotonic() + timeout_s
        while len(received) < expected and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=100)
            for records in batches.values():
                for record in records:
                    handle(list(record.headers))
    finally:
        await consumer.stop()
    return {"received": received}


async def _spawn(func: str, env: Env, **kwargs: Any) -> asyncio.subprocess.Process:
    # stderr is inherited: a warning of the relay or the consumer shows in the run's output.
    return await asyncio.create_subprocess_exec(
        sys.executable,
        _CHILD,
        func,
        env.to_json(),
        json.dumps(kwargs),
        stdout=asyncio.subprocess.PIPE,
    )


async def _wait_ready(process: asyncio.subprocess.Process) -> None:
    assert process.stdout is not None
    async with asyncio.timeout(30):
        while (await process.stdout.readline()).strip() != b"READY":
            pass


class _Writer:
    """One use case per transaction on raw asyncpg: a domain row, then the outbox row.

    The rows are the ones ``Outbox`` builds; raw asyncpg instead of the SQLAlchemy unit of work
    because the ORM path reaches ~1,100 use cases/s per process on this machine, too close to
    the rate under test to hold the schedule (see docs/benchmarks.md). The signal is the
    mode's: a NOTIFY inside the transaction, or a doorbell rung after the commit.
    """

    def __init__(self, pool: asyncpg.Pool, table: str, mode: str, doorbell: Doorbell | None):
        self.pool, self.mode, self.doorbell = pool, mode, doorbell
        self.outbox = outbox_for(table)
        self.insert = (
            f"INSERT INTO {table} (id, lane, topic, key, payload, headers)"  # noqa: S608
            " VALUES ($1, $2, $3, $4, $5::json, $6::json)"
        )
        self.notify = f"SELECT pg_notify('{self.outbox.names.channel}', '')"

    async def use_case(self, event: Any) -> None:
        row = self.outbox.to_row(event)
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "INSERT INTO bench_orders (id, body) VALUES ($1, $2)", uuid.uuid4(), "x" * 300
            )
            await conn.execute(
                self.insert,
                row["id"],
                row["lane"],
                row["topic"],
                row["key"],
                row["payload"],
                row["headers"],
            )
            if self.mode == "tx-notify":
                await conn.execute(self.notify)
        if self.doorbell is not None:
            self.doorbell.ring()


async def _writer_pool(env: Env, size: int) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(env.database.dsn(), min_size=size, max_size=size)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_orders (id uuid PRIMARY KEY, body text)")
    return pool


async def _write(writer: _Writer, topic: str, rate: int, seconds: float) -> dict[str, float]:
    committed: dict[str, float] = {}
    cursor = iter(range(int(rate * seconds)))
    start = time.monotonic() + 0.2

    async def loop() -> None:
        for i in cursor:  # open loop: event i is due at start + i/rate, late or not
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            event = message(topic, i)
            await writer.use_case(event)
            committed[str(event.event_id)] = time.time()

    await asyncio.gather(*(loop() for _ in range(16)))
    return committed


async def _warm_up(writer: _Writer, pool: asyncpg.Pool, table: str, topic: str) -> None:
    """Publish one event end to end first: the relay owns its lanes, its producer is up."""
    probe = message(topic, 10**9)
    await writer.use_case(probe)
    query = f"SELECT published_at IS NOT NULL FROM {table} WHERE id = $1"  # noqa: S608

    async def published() -> bool:
        return bool(await pool.fetchval(query, probe.event_id))

    await eventually(published, timeout_s=60)
    await asyncio.sleep(0.5)


async def e2e(
    env: Env,
    topic: str,
    mode: str,
    *,
    rate: int = 1000,
    seconds: float = 10.0,
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """Latency of one mode: percentiles over the events after the warm-up."""
    table = f"bench_lat_{uuid.uuid4().hex[:8]}"
    engine = create_engine(env.database, application_name="bench-writer")
    await install_outbox(engine, table)
    await engine.dispose()
    pool = await _writer_pool(env, 16)
    total = int(rate * seconds)
    consumer = await _spawn(
        "latency:consume", env, topic=topic, expected=total + 1, timeout_s=seconds + 90
    )
    await _wait_ready(consumer)
    relay_proc, relay_task, doorbell = None, None, None
    wakeup = RelayWakeup()
    if mode == "in-process":
        relay = OutboxRelay(
            database=env.database,
            service="bench",
            table=table,
            producer_factory=relay_producer_factory(env.kafka, "bench"),
            config=_relay_config(mode),
            metrics=Metrics(CollectorRegistry()),
            wakeup=wakeup,
        )
        relay_task = asyncio.create_task(relay.run())
        doorbell = wakeup
    else:
        relay_proc = await _spawn("latency:relay_process", env, table=table, mode=mode)
        if mode == "doorbell":
            doorbell = PgNotifyDoorbell(env.database, table)
    writer = _Writer(pool, table, mode, doorbell)
    try:
        await _warm_up(writer, pool, table, topic)
        first_commit = time.time()
        committed = await _write(writer, topic, rate, seconds)
        achieved = len(committed) / (time.time() - first_commit)
        out, _ = await asyncio.wait_for(consumer.communicate(), seconds + 60)
    finally:
        if relay_task is not None:
            relay.stop()
            await asyncio.wait_for(relay_task, 30)
        if relay_proc is not None:
            relay_proc.terminate()
            await asyncio.wait_for(relay_proc.wait(), 30)
        if isinstance(doorbell, PgNotifyDoorbell):
            await doorbell.close()
        await pool.close()
    received = json.loads(out.decode().strip().splitlines()[-1])["received"]
    cutoff = first_commit + warmup_s
    latencies = sorted(
        (received[i] - t) * 1000 for i, t in committed.items() if t >= cutoff and i in received
    )
    return {
        "mode": mode,
        "rate_target": rate,
        "rate_achieved": achieved,
        "events": len(committed),
        "lost": sum(1 for i in committed if i not in received),
        "p50_ms": percentile(latencies, 0.50),
        "p90_ms": percentile(latencies, 0.90),
        "p99_ms": percentile(latencies, 0.99),
        "max_ms": latencies[-1] if latencies else float("nan"),
    }


async def writer_cost(
    env: Env, mode: str, *, seconds: float = 5.0, concurrency: int = 8
) -> dict[str, Any]:
    """Use cases per second with nothing but writers running, by wake-up mode."""
    table = f"bench_cost_{uuid.uuid4().hex[:8]}"
    engine = create_engine(env.database, application_name="bench-writer")
    await install_outbox(engine, table)
    await engine.dispose()
    pool = await _writer_pool(env, concurrency)
    doorbell = PgNotifyDoorbell(env.database, table) if mode == "doorbell" else None
    writer = _Writer(pool, table, mode, doorbell)
    listener = await asyncpg.connect(env.database.dsn())  # a relay would be listening
    await listener.add_listener(writer.outbox.names.channel, lambda *_: None)
    done = 0
    stop_at = time.monotonic() + seconds

    async def loop() -> None:
        nonlocal done
        while time.monotonic() < stop_at:
            await writer.use_case(message("orders.events", done))
            done += 1

    try:
        started = time.monotonic()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    finally:
        await listener.close()
        if doorbell is not None:
            await doorbell.close()
        await pool.close()
    return {
        "mode": mode,
        "commits_per_s": done / elapsed,
        "notifications": doorbell.sent if doorbell else None,
    }
