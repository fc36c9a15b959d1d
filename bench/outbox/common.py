"""Shared plumbing of the outbox benchmark: servers, a scratch database, topics, payloads."""

from __future__ import annotations

import json
import os
import statistics
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.messaging import create_topics, delete_topics
from shared.outbox import Outbox, OutboxMessage, outbox_table
from shared.settings import DatabaseSettings, KafkaSettings
from shared.testing import resolve_endpoints
from shared.testing.plugin import create_database, database_settings, drop_database

ROOT = Path(__file__).resolve().parents[2]

PARTITIONS = 6  # infra/kafka/topics.toml default
PAYLOAD_BYTES = 256
KEYS = 1000


@dataclass
class Env:
    """Where the benchmark runs: the local servers and a scratch database of its own."""

    admin_dsn: str
    bootstrap: str
    db_name: str

    @property
    def database(self) -> DatabaseSettings:
        """Settings of the scratch database (pools sized for the benchmark)."""
        settings = database_settings(self.admin_dsn, self.db_name)
        return settings.model_copy(update={"pool_size": 10, "max_overflow": 10})

    @property
    def kafka(self) -> KafkaSettings:
        """The local broker, with a benchmark client id."""
        return KafkaSettings(bootstrap_servers=self.bootstrap, client_id="bench-outbox")

    def to_json(self) -> str:
        """Serialise for a child process."""
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> Env:
        """Rebuild in a child process."""
        return cls(**json.loads(text))


async def make_env() -> Env:
    """Resolve the servers (env URLs, else the local bootstrap's secrets) and create a database."""
    endpoints = resolve_endpoints(ROOT)
    name = f"ordo_bench_{uuid.uuid4().hex[:8]}"
    await create_database(endpoints.postgres_admin_dsn, name)
    return Env(endpoints.postgres_admin_dsn, endpoints.kafka_bootstrap, name)


async def drop_env(env: Env) -> None:
    """Drop the scratch database."""
    await drop_database(env.admin_dsn, env.db_name)


async def new_topic(env: Env, label: str) -> str:
    """Create a topic unique to this run (auto-creation is off)."""
    name = f"bench.outbox.{label}.{uuid.uuid4().hex[:8]}"
    await create_topics(env.bootstrap, [name], partitions=PARTITIONS)
    return name


async def drop_topics(env: Env, names: list[str]) -> None:
    """Delete the run's topics."""
    if names:
        await delete_topics(env.bootstrap, names)


def payload(i: int) -> dict[str, Any]:
    """A JSON body of about ``PAYLOAD_BYTES`` bytes, like an order event."""
    body = {"order_id": str(uuid.UUID(int=i)), "seq": i, "status": "placed", "pad": ""}
    size = len(json.dumps(body, separators=(",", ":")))
    body["pad"] = "x" * max(PAYLOAD_BYTES - size, 0)
    return body


def message(topic: str, i: int) -> OutboxMessage:
    """The i-th benchmark event; keys cycle over ``KEYS`` aggregates."""
    return OutboxMessage(
        topic=topic,
        key=f"order-{i % KEYS}",
        type="ordo.bench.order_placed.v1",
        payload=payload(i),
        org_id="org-bench",
    )


def outbox_for(name: str, *, notify: bool = False) -> Outbox:
    """An ``Outbox`` writing to table ``name``."""
    from sqlalchemy import MetaData  # noqa: PLC0415

    return Outbox(outbox_table(MetaData(), name), source="/ordo/bench", notify=notify)


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by linear interpolation."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=1000, method="inclusive")[round(q * 1000) - 1]


def run_child(func_name: str, env: Env, **kwargs: Any) -> dict[str, Any]:
    """Run ``bench.outbox.<module>:<func>`` in a fresh interpreter; return its JSON result.

    Every measured side runs in its own process, so no side inherits another's event loop,
    garbage or warm caches.
    """
    import subprocess  # noqa: PLC0415

    args = [
        sys.executable,
        str(Path(__file__).with_name("child.py")),
        func_name,
        env.to_json(),
        json.dumps(kwargs),
    ]
    done = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"{func_name} failed with exit code {done.returncode}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def quiet_logs() -> None:
    """Keep the relay's info logs out of the benchmark's output."""
    import logging  # noqa: PLC0415

    import structlog  # noqa: PLC0415

    # To stderr: a child's stdout carries its JSON result (and is a pipe nobody drains early).
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )
    logging.basicConfig(level=logging.WARNING)


def environ_flag(name: str) -> bool:
    """True when the environment variable ``name`` is set to a true-ish value."""
    return os.environ.get(name, "").lower() in {"1", "true", "yes"}


__all__ = [
    "KEYS",
    "PARTITIONS",
    "Env",
    "drop_env",
    "drop_topics",
    "environ_flag",
    "make_env",
    "message",
    "new_topic",
    "outbox_for",
    "payload",
    "percentile",
    "quiet_logs",
    "run_child",
]
