"""What the inbox costs: the idempotent consumer with its inbox vs the same consumer without.

Both sides are the same ``IdempotentConsumer`` (FastStream subscriber, manual acks, pipelined
offset commits after the database commit) reading the same records of the same topic, each in
a consumer group of its own; the handler inserts one row per event. The only difference: with
the inbox, the event id is claimed (``INSERT ... ON CONFLICT DO NOTHING``) in the handler's
transaction; without, that statement is skipped. The ratio is throughput_with /
throughput_without (target >= 0.7).

Throughput is measured between the first and the last handled event, so group joins are not
counted; an uncounted warm-up side runs first. Sides run in pairs, alternating which goes
first (plain/inbox, inbox/plain, ...), and the result is the median of the pairs' ratios: on a
shared 2-core machine another process's burst hits one pair, not the result. Bounded: every
side stops after ``side_budget_s`` and counts what it handled by then.

Run alone: ``uv run python bench/outbox/inbox_ratio.py`` (prints ``inbox_vs_plain=<x>``), or
``await measure_inbox_vs_plain()`` / ``measure_inbox_vs_plain_sync()`` from another script.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Column, MetaData, Table, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import create_engine, create_session_factory
from shared.inbox import InboxEvent, ensure_inbox_topics
from shared.inbox.testing import apply_inbox_schema, cloud_event_headers, running_consumer
from shared.messaging import create_producer, create_topics, delete_topics
from shared.observability.metrics import Metrics
from shared.settings import KafkaSettings
from shared.testing import resolve_endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

ROOT = Path(__file__).resolve().parents[2]
log = logging.getLogger("bench.inbox_ratio")
EVENT = "ordo.bench.order_placed.v1"
PAYLOAD_BYTES = 256

_effects = Table(
    "bench_inbox_effects",
    MetaData(),
    Column("run", Text, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
)


def _payload(i: int) -> dict[str, Any]:
    body: dict[str, Any] = {"order_id": str(uuid.UUID(int=i)), "seq": i, "pad": ""}
    body["pad"] = "x" * max(PAYLOAD_BYTES - len(json.dumps(body)), 0)
    return body


async def _publish(kafka: KafkaSettings, topic: str, messages: int) -> None:
    producer = create_producer(kafka, linger_ms=5)
    await producer.start()
    try:
        sends = [
            await producer.send(
                topic,
                value=json.dumps(_payload(i)).encode(),
                key=f"order-{i % 1000}".encode(),
                headers=cloud_event_headers(EVENT),
            )
            for i in range(messages)
        ]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def _side(
    *,
    label: str,
    dedupe: bool,
    kafka: KafkaSettings,
    sessions: Any,
    topic: str,
    partitions: int,
    messages: int,
    budget_s: float,
) -> float:
    """Consume ``topic`` from the start in a fresh group; return events per second."""
    group = f"bench-inbox-{label}-{uuid.uuid4().hex[:8]}"
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, topic, group, partitions=partitions)
    stamps: list[float] = []
    done = asyncio.Event()

    async def on_order_placed(event: InboxEvent, session: AsyncSession) -> None:
        await session.execute(
            _effects.insert().values(run=group, event_id=event.id, payload=event.data)
        )
        stamps.append(time.perf_counter())
        if len(stamps) >= messages:
            done.set()

    try:
        async with running_consumer(
            kafka,
            topic=topic,
            group=group,
            handlers={EVENT: on_order_placed},
            session_factory=sessions,
            metrics=Metrics(CollectorRegistry()),
        ) as consumer:
            consumer.processor.dedupe = dedupe
            # Bounded: past the budget, measure what was handled so far.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), timeout=budget_s)
    finally:
        await delete_topics(kafka.bootstrap_servers, twins)
    if len(stamps) < 2:
        raise RuntimeError(f"{label}: only {len(stamps)} events handled within {budget_s}s")
    rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
    log.info("%s: %d events handled, %.0f events/s", label, len(stamps), rate)
    return rate


async def measure_inbox_vs_plain(
    env: Any | None = None,
    *,
    messages: int = 1000,
    partitions: int = 3,
    pairs: int = 4,
    side_budget_s: float = 6.0,
) -> float:
    """Return throughput with the inbox / throughput without it (same consumer, same records).

    Args:
        env: optional, anything with ``admin_dsn`` and ``bootstrap`` (the outbox benchmark's
            ``Env``); by default the servers are resolved like the tests resolve them.
        messages: records published once and consumed by each side.
        partitions: of the benchmark topic (one consumer reads them all, in order per partition).
        pairs: (plain, inbox) pairs to run; the median of their ratios is returned.
        side_budget_s: the most one side may take; ``2 * pairs + 1`` sides run.
    """
    if env is not None:
        admin_dsn, bootstrap = env.admin_dsn, env.bootstrap
    else:
        endpoints = resolve_endpoints(ROOT)
        admin_dsn, bootstrap = endpoints.postgres_admin_dsn, endpoints.kafka_bootstrap
    db_name = f"ordo_bench_inbox_{uuid.uuid4().hex[:8]}"
    await create_database(admin_dsn, db_name)
    engine = create_engine(database_settings(admin_dsn, db_name), application_name="bench-inbox")
    kafka = KafkaSettings(bootstrap_servers=bootstrap, client_id="bench-inbox")
    topic = f"bench.inbox.{uuid.uuid4().hex[:8]}"
    try:
        await apply_inbox_schema(engine)
        async with engine.begin() as conn:
            await conn.run_sync(_effects.metadata.create_all)
        await create_topics(bootstrap, [topic], partitions=partitions)
        await _publish(kafka, topic, messages)
        sessions = create_session_factory(engine)
        # Warm-up, not counted: the first side would otherwise also pay for cold caches
        # (pool connections, prepared statements, table and log pages).
        await _side(
            label="warm-up",
            dedupe=True,
            kafka=kafka,
            sessions=sessions,
            topic=topic,
            partitions=partitions,
            messages=messages,
            budget_s=side_budget_s / 2,
        )
        ratios: list[float] = []
        for pair in range(pairs):
            rates: dict[bool, float] = {}
            for dedupe in (False, True) if pair % 2 == 0 else (True, False):
                rates[dedupe] = await _side(
                    label="inbox" if dedupe else "plain",
                    dedupe=dedupe,
                    kafka=kafka,
                    sessions=sessions,
                    topic=topic,
                    partitions=partitions,
                    messages=messages,
                    budget_s=side_budget_s,
                )
            ratios.append(rates[True] / rates[False])
        log.info("pair ratios: %s", ", ".join(f"{r:.3f}" for r in ratios))
        return statistics.median(ratios)
    finally:
        await delete_topics(bootstrap, [topic])
        await engine.dispose()
        await drop_database(admin_dsn, db_name)


def measure_inbox_vs_plain_sync(**kwargs: Any) -> float:
    """Synchronous wrapper of :func:`measure_inbox_vs_plain` (runs its own event loop)."""
    return asyncio.run(measure_inbox_vs_plain(**kwargs))


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    started = time.perf_counter()
    ratio = measure_inbox_vs_plain_sync()
    sys.stdout.write(f"inbox_vs_plain={ratio:.3f} ({time.perf_counter() - started:.1f}s)\n")
