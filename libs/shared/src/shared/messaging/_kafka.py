"""aiokafka producer settings, topic administration and a readiness probe."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.new_topic import NewTopic
from aiokafka.errors import TopicAlreadyExistsError, UnknownTopicOrPartitionError

from shared.settings import KafkaSettings


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    """Return the producer settings every Ordo producer uses: durable and idempotent.

    ``acks="all"`` with ``enable_idempotence`` means a message is acknowledged only once every
    in-sync replica has it, and a retried send never duplicates or reorders within a partition.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": settings.client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        "compression_type": None,
        "request_timeout_ms": int(settings.request_timeout_s * 1000),
    }
    config.update(overrides)
    return config


def create_producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """Build (not start) an idempotent, ``acks=all`` producer."""
    return AIOKafkaProducer(**producer_config(settings, **overrides))


async def create_topics(
    bootstrap_servers: str,
    names: list[str],
    *,
    partitions: int = 3,
    replication_factor: int = 1,
    configs: dict[str, str] | None = None,
) -> None:
    """Create topics that do not exist yet (auto-creation is off on Ordo's brokers)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, replication_factor, topic_configs=configs or {})
            for name in names
            if name not in existing
        ]
        if wanted:
            # Another process may create one between list and create.
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(wanted)
    finally:
        await admin.close()


async def delete_topics(bootstrap_servers: str, names: list[str]) -> None:
    """Delete topics, ignoring those already gone."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            with contextlib.suppress(UnknownTopicOrPartitionError):
                await admin.delete_topics(doomed)
    finally:
        await admin.close()


class KafkaProbe:
    """Readiness probe for Kafka: asks the cluster for its brokers through a long-lived client.

    The admin client is started lazily and rebuilt after a failure, so a broker restart is
    noticed (not ready) and then recovered (ready) without restarting the service.
    """

    def __init__(self, settings: KafkaSettings, timeout_s: float = 2.0) -> None:
        """Remember the cluster to probe; no connection is made until the first check."""
        self._settings = settings
        self._timeout_s = timeout_s
        self._admin: AIOKafkaAdminClient | None = None

    async def __call__(self) -> None:
        """Raise when no broker answers within the timeout."""
        try:
            async with asyncio.timeout(self._timeout_s):
                if self._admin is None:
                    admin = AIOKafkaAdminClient(
                        bootstrap_servers=self._settings.bootstrap_servers,
                        client_id=f"{self._settings.client_id}-ready",
                        request_timeout_ms=int(self._timeout_s * 1000),
                    )
                    await admin.start()
                    self._admin = admin
                cluster = await self._admin.describe_cluster()
        except BaseException:
            await self.close()
            raise
        if not cluster.get("brokers"):
            raise ConnectionError("Kafka answered with no live brokers")

    async def close(self) -> None:
        """Close the client if one is open."""
        admin, self._admin = self._admin, None
        if admin is not None:
            # Closing a broken client must not mask the error that broke it.
            with contextlib.suppress(Exception):
                await admin.close()
