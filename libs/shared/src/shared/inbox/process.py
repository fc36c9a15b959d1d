"""One way to run a consumer process: a broker, its idempotent consumers, a health server.

A service's ``bootstrap`` builds a :class:`ConsumerProcess` (broker, consumers, health app,
engine) and its ``entrypoints/consumer.py`` hands it to :func:`serve_consumers`::

    asyncio.run(serve_consumers(build_consumer(settings), host=..., port=..., partitions=6))

Imported as ``shared.inbox.process`` (not from ``shared.inbox``): it depends on the HTTP
chassis, which the inbox itself does not need.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI
from faststream.kafka import KafkaBroker
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.http.server import GracefulServer
from shared.inbox._consumer import IdempotentConsumer
from shared.inbox._topics import ensure_inbox_topics

__all__ = ["ConsumerProcess", "serve_consumers"]


@dataclass
class ConsumerProcess:
    """The parts of one consumer process.

    Attributes:
        broker: the FastStream broker every consumer subscribed on.
        consumers: the idempotent consumers (one per consumed topic).
        health: ``/health/live``, ``/health/ready`` and ``/metrics``.
        engine: the database engine, disposed of last.
        bootstrap_servers: where to create the consumers' retry and dead-letter topics.
    """

    broker: KafkaBroker
    consumers: Sequence[IdempotentConsumer]
    health: FastAPI
    engine: AsyncEngine
    bootstrap_servers: str


async def serve_consumers(
    process: ConsumerProcess, *, host: str, port: int, partitions: int
) -> None:
    """Consume until SIGTERM/SIGINT, then shut down without losing an offset commit.

    Creates each consumer's retry lane and dead-letter topic first (``partitions`` as the source
    topics'), starts the broker, serves health on ``host:port``; on a signal the health server
    stops, offset commits in flight are flushed, the broker stops (finishing the message in
    progress), the consumers close and the engine is disposed of.
    """
    for consumer in process.consumers:
        await ensure_inbox_topics(
            process.bootstrap_servers, consumer.topic, consumer.group, partitions=partitions
        )
    server = GracefulServer(
        uvicorn.Config(process.health, host=host, port=port, log_config=None, access_log=False)
    )
    await process.broker.start()
    try:
        await server.serve()  # returns on SIGTERM/SIGINT
    finally:
        for consumer in process.consumers:
            await consumer.flush()
        await process.broker.stop()
        for consumer in process.consumers:
            await consumer.close()
        await process.engine.dispose()
