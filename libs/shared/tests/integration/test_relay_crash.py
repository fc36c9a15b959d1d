"""A relay that dies between sending and marking loses nothing: the next one sends again."""

from __future__ import annotations

import asyncio
import json
import sys
import textwrap
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import MetaData, Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.observability.metrics import Metrics
from shared.outbox import (
    CE_ID,
    Outbox,
    OutboxMessage,
    OutboxRelay,
    RelayConfig,
    outbox_table,
    relay_producer_factory,
)
from shared.outbox.testing import drop_outbox, eventually, install_outbox, read_topic
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

CONFIG = RelayConfig(batch_size=50, publishers=1, poll_interval_s=0.1, rebalance_interval_s=0.2)

# The relay in a child process: marking is replaced by a long sleep, so the parent can kill -9
# it after a batch was sent and acknowledged but before it was marked.
CHILD = textwrap.dedent(
    """
    import asyncio, json, sys
    from shared.outbox import OutboxRelay, RelayConfig, relay_producer_factory
    from shared.outbox._store import OutboxStore
    from shared.settings import DatabaseSettings, KafkaSettings

    args = json.loads(sys.argv[1])

    async def never_mark(self, conn, ids, *, timeout):
        print("SENT", len(ids), flush=True)
        await asyncio.sleep(3600)

    OutboxStore.mark_published = never_mark

    async def main():
        relay = OutboxRelay(
            database=DatabaseSettings(**args["database"]),
            producer_factory=relay_producer_factory(
                KafkaSettings(bootstrap_servers=args["bootstrap"]), "child"),
            service=args["service"], table=args["table"],
            config=RelayConfig(batch_size=50, publishers=1, poll_interval_s=0.1,
                               rebalance_interval_s=0.2),
        )
        await relay.run()

    asyncio.run(main())
    """
)


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-relay-crash")
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield outbox_table(MetaData(), name)
    await drop_outbox(engine, name)


def relay_for(endpoints: Endpoints, database: DatabaseSettings, table: Table) -> OutboxRelay:
    kafka = KafkaSettings(bootstrap_servers=endpoints.kafka_bootstrap)
    return OutboxRelay(
        database=database,
        producer_factory=relay_producer_factory(kafka, "t"),
        service=f"crash-{uuid.uuid4().hex[:6]}",
        table=table,
        config=CONFIG,
        metrics=Metrics(CollectorRegistry()),
    )


async def fill(engine: AsyncEngine, table: Table, topic: str, n: int) -> set[str]:
    outbox = Outbox(table, source="/ordo/test")
    messages = [
        OutboxMessage(topic=topic, key=f"k{i % 7}", type="t.v1", payload={"i": i}) for i in range(n)
    ]
    async with engine.begin() as conn:
        await outbox.add_many(conn, messages)
    return {str(m.event_id) for m in messages}


async def unpublished(engine: AsyncEngine, table: Table) -> int:
    async with engine.connect() as conn:
        query = select(func.count()).select_from(table).where(table.c.published_at.is_(None))
        return (await conn.execute(query)).scalar_one()


async def drain(relay: OutboxRelay, engine: AsyncEngine, table: Table) -> None:
    task = asyncio.create_task(relay.run())

    async def done() -> bool:
        return await unpublished(engine, table) == 0

    try:
        await eventually(done)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 30)


async def test_a_relay_cancelled_between_send_and_mark_loses_nothing(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, new_topic
) -> None:
    topic = await new_topic(partitions=3)
    ids = await fill(engine, table, topic, 300)

    first = relay_for(ordo_endpoints, ordo_database, table)
    sent_not_marked: list[uuid.UUID] = []
    reached = asyncio.Event()

    async def never_mark(conn, ids, **_):  # the crash point
        sent_not_marked.extend(ids)
        reached.set()
        await asyncio.Event().wait()

    first._store.mark_published = never_mark
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(reached.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(sent_not_marked) == 50
    assert await unpublished(engine, table) == 300

    await drain(relay_for(ordo_endpoints, ordo_database, table), engine, table)
    records = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=350, settle_s=0.5)
    seen = Counter(r.headers[CE_ID] for r in records)
    assert set(seen) == ids, "every row published at least once"
    assert {i for i, n in seen.items() if n == 2} == {str(i) for i in sent_not_marked}


async def test_a_relay_killed_by_sigkill_mid_batch_loses_nothing(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, new_topic
) -> None:
    topic = await new_topic(partitions=3)
    ids = await fill(engine, table, topic, 400)
    args = {
        "database": {
            **ordo_database.model_dump(),
            "password": ordo_database.password.get_secret_value(),
        },
        "bootstrap": ordo_endpoints.kafka_bootstrap,
        "service": f"child-{uuid.uuid4().hex[:6]}",
        "table": table.name,
    }
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        CHILD,
        json.dumps(args),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        assert child.stdout is not None
        async with asyncio.timeout(60):
            line = b""
            while not line.startswith(b"SENT"):  # structlog also writes to stdout
                line = await child.stdout.readline()
        assert line.strip() == b"SENT 50"
    finally:
        child.kill()  # SIGKILL: no cleanup, no flush, locks die with the session
        await child.wait()
    first_batch = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=50)
    assert await unpublished(engine, table) == 400

    await drain(relay_for(ordo_endpoints, ordo_database, table), engine, table)
    records = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=450, settle_s=0.5)
    seen = Counter(r.headers[CE_ID] for r in records)
    assert set(seen) == ids
    assert all(seen[r.headers[CE_ID]] == 2 for r in first_batch)


async def test_a_relay_survives_its_connections_being_killed(
    ordo_endpoints: Endpoints, ordo_database: DatabaseSettings, engine, table, new_topic
) -> None:
    topic = await new_topic(partitions=3)
    relay = relay_for(ordo_endpoints, ordo_database, table)
    task = asyncio.create_task(relay.run())
    try:
        first = await fill(engine, table, topic, 20)
        await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=20)
        async with engine.connect() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND application_name LIKE :app"
                    ),
                    {"app": f"{relay._service}-outbox-%"},
                )
            ).scalar_one()
        assert killed >= 3  # control, publish, maintenance
        second = await fill(engine, table, topic, 20)
        records = await read_topic(ordo_endpoints.kafka_bootstrap, topic, at_least=40, timeout_s=40)
    finally:
        relay.stop()
        await asyncio.wait_for(task, 30)
    assert {r.headers[CE_ID] for r in records} == first | second
    assert relay.owned_lanes == frozenset()  # released on stop
