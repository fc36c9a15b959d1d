"""The ``ordo`` ops CLI (tools/ops, issue 14 item 6), run as its console script against the real
local servers: the running stack for ``status``, and a topic, consumer group and database of
this test for the dead-letter commands (a real consumer dead-letters real records first).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import ValidationError
from shared.inbox import InboxEvent, RedeliveryPolicy, ensure_inbox_topics, retry_topic
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
)
from shared.messaging import delete_topics
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
ORDO = Path(sys.executable).parent / "ordo"
EVENT = "test.ops_cli_probe.v1"


async def ordo(*args: str, kafka: str, expect: int = 0) -> str:
    """Run the ``ordo`` console script; return its stdout, failing on an unexpected exit."""
    env = os.environ | {"ORDO_ROOT": str(REPO), "ORDO_KAFKA__BOOTSTRAP_SERVERS": kafka}
    process = await asyncio.create_subprocess_exec(
        str(ORDO), *args, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == expect, f"ordo {' '.join(args)}: {out.decode()}{err.decode()}"
    return out.decode()


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, client_id="ops-test")


@pytest.fixture
async def topic(new_topic: Any, kafka: KafkaSettings, kafka_group: str) -> AsyncIterator[str]:
    """A topic of this test with the group's retry and dead-letter twins (deleted after)."""
    name: str = await new_topic(partitions=2)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, kafka_group, partitions=2)
    yield name
    await delete_topics(kafka.bootstrap_servers, twins)


@pytest.fixture
async def dead_letters(
    kafka: KafkaSettings, topic: str, kafka_group: str, ordo_database: DatabaseSettings
) -> str:
    """Two records of ``topic`` that a real consumer dead-lettered (a permanent error)."""
    engine = create_engine(ordo_database, application_name="ops-cli-tests")
    await apply_inbox_schema(engine)

    async def on_probe(event: InboxEvent, session: AsyncSession) -> None:
        raise ValidationError(f"probe {event.data['n']} is not supported yet.")

    await publish_records(
        kafka, topic, [(f"k-{n}".encode(), {"n": n}, cloud_event_headers(EVENT)) for n in (1, 2)]
    )
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: on_probe},
        session_factory=create_session_factory(engine),
        policy=RedeliveryPolicy(max_attempts=1, initial_delay_s=0.1),
        metrics=Metrics(CollectorRegistry()),
    ):
        await read_topic(kafka.bootstrap_servers, f"{topic}.dlq", expected=2, timeout_s=60)
    await engine.dispose()
    return f"{topic}.dlq"


async def test_status_shows_processes_lag_outbox_and_dead_letters(
    kafka: KafkaSettings, topic: str, kafka_group: str
) -> None:
    # A group of this test with 5 records on partition 0 and offset 2 committed: lag 3.
    await publish_records(kafka, topic, [(b"k", {"n": n}, []) for n in range(5)], partition=0)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=kafka_group)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, 0)])
        await consumer.commit({TopicPartition(topic, 0): 2})
    finally:
        await consumer.stop()

    report = json.loads(await ordo("status", "--json", kafka=kafka.bootstrap_servers))

    procfile = REPO / "infra" / f"Procfile.{report['layout']}"
    names = [
        line.split()[0]
        for line in procfile.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert [p["name"] for p in report["processes"]] == names
    assert any(p["ready"] for p in report["processes"]), "no process of the stack is ready"
    lag = {(g["group"], g["topic"]): g["lag"] for g in report["consumer_lag"]}
    assert lag[(kafka_group, topic)] == 3
    outbox = {b["service"]: b for b in report["outbox"]}
    assert {"identity", "catalog", "orders", "payments", "notifications"} <= outbox.keys()
    assert all(outbox[s]["unpublished"] is not None for s in ("orders", "catalog"))
    dlq = {d["topic"]: d for d in report["dead_letters"]}
    assert dlq[f"{topic}.dlq"] == {
        "topic": f"{topic}.dlq",
        "records": 0,
        "replayed": 0,
        "pending": 0,
    }
    table = await ordo("status", kafka=kafka.bootstrap_servers)
    assert "consumer lag" in table
    assert "outbox backlog" in table


async def test_dlq_list_show_and_replay(
    kafka: KafkaSettings,
    topic: str,
    kafka_group: str,
    dead_letters: str,
    ordo_database: DatabaseSettings,
) -> None:
    bootstrap = kafka.bootstrap_servers
    listed = json.loads(
        await ordo("dlq", "list", "--topic", dead_letters, "--json", kafka=bootstrap)
    )
    assert len(listed) == 2
    assert {r["group"] for r in listed} == {kafka_group}
    assert {r["code"] for r in listed} == {"validation.failed"}
    assert {r["event_type"] for r in listed} == {EVENT}
    assert all(r["origin"].startswith(f"{topic}/") for r in listed)
    filtered = await ordo(
        "dlq", "list", "--topic", dead_letters, "--code", "other.code", "--json", kafka=bootstrap
    )
    assert json.loads(filtered) == []
    assert "dead letters (2 shown)" in await ordo(
        "dlq", "list", "--topic", dead_letters, kafka=bootstrap
    )

    first = listed[0]
    shown = json.loads(
        await ordo(
            "dlq",
            "show",
            dead_letters,
            str(first["partition"]),
            str(first["offset"]),
            "--json",
            kafka=bootstrap,
        )
    )
    assert shown["value"]["n"] in {1, 2}
    assert shown["headers"]["ordo-dlq-consumer-group"] == kafka_group
    assert "is not supported yet" in shown["error_message"]
    await ordo("dlq", "show", dead_letters, "0", "999999", kafka=bootstrap, expect=1)

    pending = f'ordo_dlq_pending{{topic="{dead_letters}"}}'
    assert f"{pending} 2.0" in await ordo("exporter", "--once", kafka=bootstrap)

    url = ordo_database.url("postgresql").render_as_string(hide_password=False)
    replay = [
        "dlq",
        "replay",
        "--topic",
        dead_letters,
        "--group",
        kafka_group,
        "--reason",
        "ops CLI test",
        "--actor",
        "tester",
        "--database-url",
        url,
    ]
    dry = json.loads(await ordo(*replay, "--dry-run", "--json", kafka=bootstrap))
    assert (dry["matched"], dry["replayed"]) == (2, 0)
    shown_bar = await ordo(*replay, kafka=bootstrap)
    assert "replaying" in shown_bar
    again = json.loads(await ordo(*replay, "--json", kafka=bootstrap))
    assert (again["matched"], again["replayed"], again["already_replayed"]) == (2, 0, 2)
    # Re-driven to the group's retry lane, once each.
    lane = await read_topic(bootstrap, retry_topic(topic, kafka_group), expected=2, timeout_s=30)
    assert sorted(json.loads(r.value)["n"] for r in lane) == [1, 2]
