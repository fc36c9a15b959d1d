"""Smoke tests: the real local servers answer, and the plugin isolates tests from each other."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis
from sqlalchemy import text

from shared.db import check_postgres, create_engine
from shared.messaging import create_producer, producer_config
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration


async def test_produce_and_consume_through_the_real_broker(
    ordo_endpoints: Endpoints, new_topic, kafka_group: str
) -> None:
    topic = await new_topic(partitions=3)
    settings = KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, client_id="smoke")
    config = producer_config(settings)
    assert config["acks"] == "all"
    assert config["enable_idempotence"] is True

    producer = create_producer(settings)
    await producer.start()
    try:
        sent = {f"key-{i}": f"value-{i}-{uuid.uuid4()}".encode() for i in range(20)}
        for key, value in sent.items():
            await producer.send_and_wait(topic, value, key=key.encode())
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=ordo_endpoints.kafka_bootstrap,
        group_id=kafka_group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    received: dict[str, bytes] = {}
    try:
        async with asyncio.timeout(30):
            while len(received) < len(sent):
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        assert record.key is not None
                        received[record.key.decode()] = record.value
        await consumer.commit()
    finally:
        await consumer.stop()
    assert received == sent


async def test_a_postgres_transaction_commits_or_rolls_back(
    ordo_database: DatabaseSettings,
) -> None:
    engine = create_engine(ordo_database, application_name="smoke")
    table = f"smoke_{uuid.uuid4().hex[:8]}"
    try:
        await check_postgres(engine)
        async with engine.begin() as conn:
            await conn.execute(text(f"CREATE TABLE {table} (id int PRIMARY KEY, note text)"))
        async with engine.begin() as conn:
            await conn.execute(text(f"INSERT INTO {table} VALUES (1, 'kept')"))

        async def insert_then_fail() -> None:
            async with engine.begin() as conn:
                await conn.execute(text(f"INSERT INTO {table} VALUES (2, 'rolled back')"))
                raise RuntimeError("abort")

        with pytest.raises(RuntimeError, match="abort"):
            await insert_then_fail()
        async with engine.connect() as conn:
            rows = (await conn.execute(text(f"SELECT id, note FROM {table}"))).all()
        assert [tuple(r) for r in rows] == [(1, "kept")]
    finally:
        await engine.dispose()


async def test_each_worker_gets_its_own_database(ordo_database: DatabaseSettings) -> None:
    assert ordo_database.name.startswith("ordo_test_")
    engine = create_engine(ordo_database)
    try:
        async with engine.connect() as conn:
            current = (await conn.execute(text("SELECT current_database()"))).scalar_one()
    finally:
        await engine.dispose()
    assert current == ordo_database.name


async def test_redis_set_and_get_under_a_test_prefix(
    redis_client: Redis, redis_prefix: str
) -> None:
    key = f"{redis_prefix}greeting"
    await redis_client.set(key, b"hello", ex=60)
    assert await redis_client.get(key) == b"hello"
    assert 0 < await redis_client.ttl(key) <= 60
