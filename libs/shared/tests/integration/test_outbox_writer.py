"""Writing outbox rows against the real PostgreSQL: migration, transaction, NOTIFY."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import MetaData, Table, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.outbox import CE_ID, CE_TYPE, Outbox, OutboxMessage, lane_for, outbox_table
from shared.outbox.testing import drop_outbox, install_outbox
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-outbox-writer")
    yield engine
    await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> AsyncIterator[Table]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield outbox_table(MetaData(), name)
    await drop_outbox(engine, name)


def message(i: int = 0, key: str = "order-1") -> OutboxMessage:
    return OutboxMessage(
        topic="orders.events",
        key=key,
        type="ordo.orders.placed.v1",
        payload={"i": i, "name": "Zoë"},
    )


async def add_then_fail(engine: AsyncEngine, outbox: Outbox, msg: OutboxMessage) -> None:
    async with engine.begin() as conn:
        await outbox.add(conn, msg)
        raise RuntimeError("rolled back")


async def test_the_migration_creates_the_table_index_and_vacuum_settings(
    engine: AsyncEngine,
) -> None:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    async with engine.connect() as conn:
        columns = (
            await conn.execute(
                text(
                    "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                    " WHERE table_name = :t ORDER BY ordinal_position"
                ),
                {"t": name},
            )
        ).all()
        index = (
            await conn.execute(
                text("SELECT indexdef FROM pg_indexes WHERE tablename = :t AND indexname = :i"),
                {"t": name, "i": f"{name}_pending_idx"},
            )
        ).scalar_one()
        options = (
            await conn.execute(
                text("SELECT reloptions FROM pg_class WHERE relname = :t"), {"t": name}
            )
        ).scalar_one()
    assert [c[0] for c in columns] == [
        "id",
        "seq",
        "lane",
        "topic",
        "key",
        "payload",
        "headers",
        "created_at",
        "published_at",
        "attempts",
        "last_error",
    ]
    assert {c[0]: c[1] for c in columns}["payload"] == "json"
    assert "WHERE (published_at IS NULL)" in index
    assert "autovacuum_vacuum_scale_factor=0" in options
    await drop_outbox(engine, name)
    async with engine.connect() as conn:
        gone = (await conn.execute(text("SELECT to_regclass(:t)"), {"t": name})).scalar_one()
    assert gone is None


async def test_rows_are_written_in_the_callers_transaction(
    engine: AsyncEngine, table: Table
) -> None:
    outbox = Outbox(table, source="/ordo/orders", lanes=64)
    async with engine.begin() as conn:
        ids = await outbox.add_many(conn, [message(0), message(1), message(2, key="order-2")])
    with pytest.raises(RuntimeError, match="rolled back"):
        await add_then_fail(engine, outbox, message(3))

    async with engine.connect() as conn:
        rows = (
            await conn.execute(
                select(
                    table.c.id,
                    table.c.seq,
                    table.c.lane,
                    table.c.key,
                    literal_column("payload::text").label("body"),
                    table.c.headers,
                    table.c.published_at,
                ).order_by(table.c.seq)
            )
        ).all()
    assert [r.id for r in rows] == list(ids)
    assert [r.seq for r in rows] == sorted(r.seq for r in rows)
    assert [r.lane for r in rows] == [lane_for(r.key, 64) for r in rows]
    assert rows[0].body == '{"i":0,"name":"Zoë"}'  # byte for byte what the consumer will get
    assert rows[0].headers[CE_ID] == str(ids[0])
    assert rows[0].headers[CE_TYPE] == "ordo.orders.placed.v1"
    assert all(r.published_at is None for r in rows)


async def test_one_notify_per_transaction_delivered_only_on_commit(
    ordo_database: DatabaseSettings, engine: AsyncEngine, table: Table
) -> None:
    outbox = Outbox(table, source="/ordo/orders", notify=True)
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(ordo_database.dsn())
    await listener.add_listener(outbox.names.channel, lambda *args: received.put_nowait(args[2]))
    try:
        async with engine.begin() as conn:
            for i in range(3):
                await outbox.add(conn, message(i))
            await asyncio.sleep(0.2)
            assert received.empty(), "NOTIFY must wait for the commit"
        await asyncio.wait_for(received.get(), 5)
        await asyncio.sleep(0.2)
        assert received.empty(), "three adds in one transaction ring once"

        with pytest.raises(RuntimeError):
            await add_then_fail(engine, outbox, message(9))
        await asyncio.sleep(0.3)
        assert received.empty(), "a rolled-back transaction rings nobody"

        quiet = Outbox(table, source="/ordo/orders", notify=False)
        async with engine.begin() as conn:
            await quiet.add(conn, message(10))
        await asyncio.sleep(0.3)
        assert received.empty()
    finally:
        await listener.close()


async def test_headers_are_stored_as_json(engine: AsyncEngine, table: Table) -> None:
    outbox = Outbox(table, source="/ordo/orders")
    async with engine.begin() as conn:
        await outbox.add(conn, message())
    async with engine.connect() as conn:
        stored = (
            await conn.execute(text(f'SELECT headers::text FROM "{table.name}"'))
        ).scalar_one()
    assert json.loads(stored)["ce_source"] == "/ordo/orders"
