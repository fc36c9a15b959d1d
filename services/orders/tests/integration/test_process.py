"""``ordo-orders`` with every role in one process: one port, every role's readiness, an orderly
stop on SIGTERM (HTTP first, then the consumers' offsets, the relay, the worker)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from orders.entrypoints.service import SPEC
from shared.inbox import dead_letter_topic, retry_topic
from shared.messaging import delete_topics
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import Endpoints
from shared.testing.plugin import temporary_database

from .conftest import ALEMBIC

pytestmark = pytest.mark.integration


@pytest.fixture
async def scratch(ordo_endpoints: Endpoints) -> AsyncIterator[DatabaseSettings]:
    """A migrated orders database of this test only: the relay it runs finds nothing to publish
    (another test's outbox rows would go to the real ``orders.events``) and the sweeper nothing
    to time out."""
    async with temporary_database(ordo_endpoints, "ordo_orders_process") as database:
        await ALEMBIC.upgrade_head(database)
        yield database


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(
    database: DatabaseSettings, kafka: KafkaSettings, topics: list[str], group: str, port: int
) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDO_")}
    return env | {
        "ORDO_ENVIRONMENT": "test",
        "ORDO_SECRETS_DIR": "/nonexistent",
        "ORDO_HTTP_PORT": str(port),
        "ORDO_DATABASE__HOST": database.host,
        "ORDO_DATABASE__PORT": str(database.port),
        "ORDO_DATABASE__NAME": database.name,
        "ORDO_DATABASE__USER": database.user,
        "ORDO_DATABASE__PASSWORD": database.password.get_secret_value(),
        "ORDO_KAFKA__BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "ORDO_CATALOG_TOPIC": topics[0],
        "ORDO_PAYMENTS_TOPIC": topics[1],
        "ORDO_TOPIC_PARTITIONS": "3",
        "ORDO_CONSUMER_GROUP": group,
        "ORDO_SWEEP_INTERVAL_S": "0.2",
    }


def _wait_ready(proc: subprocess.Popen[str], port: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the process ended before it was ready"
        try:
            answer = httpx.get(f"http://127.0.0.1:{port}/health/ready", timeout=3)
            if answer.status_code == 200:
                return dict(answer.json())
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the process never became ready"
        time.sleep(0.2)


def _events(out: str) -> list[str]:
    """The process's own milestones, in the order it logged them."""
    events = []
    for line in out.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        event = entry.get("event", "")
        if event == "process.role_stopped":
            events.append(f"stopped {entry['role']}")
        elif event.startswith("process."):
            events.append(event)
    return events


@dataclass
class Run:
    """What the process served while it ran, and how it ended."""

    ready: dict[str, Any]
    metrics: str
    openapi: dict[str, Any]
    returncode: int
    out: str


def _run_until_ready_then_sigterm(env: dict[str, str], port: int) -> Run:
    proc = subprocess.Popen(
        [sys.executable, "-m", "orders.entrypoints.service"],
        env=env,
        cwd=Path(__file__).parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        ready = _wait_ready(proc, port)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=3).text
        openapi = httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=3).json()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
    return Run(ready, metrics, openapi, proc.returncode, out)


async def test_every_role_in_one_process_is_ready_together_and_stops_in_order(
    scratch: DatabaseSettings, kafka: KafkaSettings, new_topic: Any, kafka_group: str
) -> None:
    topics = [await new_topic(partitions=3), await new_topic(partitions=3)]
    port = _free_port()
    env = _environment(scratch, kafka, topics, kafka_group, port)
    try:
        run = await asyncio.to_thread(_run_until_ready_then_sigterm, env, port)
    finally:
        twins = [retry_topic(t, kafka_group) for t in topics]
        await delete_topics(kafka.bootstrap_servers, twins + [dead_letter_topic(t) for t in topics])

    assert SPEC.roles == ("api", "consumer", "relay", "worker")
    # One port serves the API and the health of every role: each role's checks, all passing.
    assert set(run.ready["checks"]) == {
        "api.postgres",
        "consumer.postgres",
        "consumer.kafka",
        "relay.postgres",
        "relay.kafka",
        "worker.postgres",
    }
    assert all(check["status"] == "ok" for check in run.ready["checks"].values())
    assert run.openapi["info"]["title"] == "Ordo orders"
    assert 'jobs_total{job="orders.sweep_deadlines",outcome="succeeded"}' in run.metrics
    assert "outbox_lanes_owned" in run.metrics
    # SIGTERM: HTTP stops first, then the consumers (offsets flushed), the relay, the worker.
    assert run.returncode == 0, run.out[-3000:]
    assert _events(run.out) == [
        "process.started",
        "process.http_stopped",
        "stopped api",
        "stopped consumer",
        "stopped relay",
        "stopped worker",
        "process.stopped",
    ], run.out[-3000:]
