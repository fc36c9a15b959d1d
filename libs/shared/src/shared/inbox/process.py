"""One way to run a consumer process: its idempotent consumers and a health server.

A service's ``bootstrap`` wires its unit of work and handlers, and
:func:`build_consumer_process` builds the rest (one :class:`IdempotentConsumer` per consumed
topic, the health app with PostgreSQL and Kafka readiness)::

    engine = create_engine(settings.database, application_name="orders-consumer")
    uow = unit_of_work_factory(create_session_factory(engine), doorbell)
    use_cases = bootstrap(uow=uow)
    return build_consumer_process(
        settings, version=version("ordo-orders"), engine=engine, unit_of_work=uow,
        group="orders", topics={"catalog.events": build_catalog_handlers(use_cases)},
        closers=[doorbell.close],
    )

Its ``entrypoints/consumer.py`` hands the :class:`ConsumerProcess` to :func:`serve_consumers`::

    shared.runtime.run(serve_consumers(build_consumer(settings), host=..., port=..., partitions=6))

Imported as ``shared.inbox.process`` (not from ``shared.inbox``): it depends on the HTTP
chassis, which the inbox itself does not need.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import check_postgres
from shared.http.app import Closer, closing_lifespan, create_app
from shared.http.health import ReadinessCheck
from shared.http.server import GracefulServer
from shared.inbox._consumer import IdempotentConsumer
from shared.inbox._event import Handler
from shared.inbox._policy import RedeliveryPolicy
from shared.inbox._topics import ensure_inbox_topics
from shared.inbox._tx import UnitOfWork
from shared.messaging import KafkaProbe
from shared.settings import ServiceSettings

__all__ = ["ConsumerProcess", "build_consumer_process", "serve_consumers"]


@dataclass
class ConsumerProcess:
    """The parts of one consumer process.

    Attributes:
        consumers: the idempotent consumers (one per consumed topic).
        health: ``/health/live``, ``/health/ready`` and ``/metrics``.
        engine: the database engine, disposed of last.
        bootstrap_servers: where to create the consumers' retry and dead-letter topics.
    """

    consumers: Sequence[IdempotentConsumer]
    health: FastAPI
    engine: AsyncEngine
    bootstrap_servers: str

    async def start(self, *, partitions: int | None = None) -> None:
        """Start consuming; first create the retry lanes and dead-letter topics when
        ``partitions`` (theirs, as the source topics') is given."""
        for consumer in self.consumers:
            if partitions is not None:
                await ensure_inbox_topics(
                    self.bootstrap_servers, consumer.topic, consumer.group, partitions=partitions
                )
        for consumer in self.consumers:
            await consumer.start()

    async def stop(self, *, dispose_engine: bool = True) -> None:
        """Finish the batches in progress, flush offset commits, stop; dispose of the engine
        unless the caller shares it with other roles and disposes of it itself."""
        for consumer in self.consumers:
            await consumer.stop()
        if dispose_engine:
            await self.engine.dispose()


def build_consumer_process(
    settings: ServiceSettings,
    *,
    version: str,
    engine: AsyncEngine,
    unit_of_work: Callable[[], UnitOfWork],
    group: str,
    topics: Mapping[str, Mapping[str, Handler[Any]]],
    policy: RedeliveryPolicy | None = None,
    max_workers: int = 1,
    readiness: Mapping[str, ReadinessCheck] | None = None,
    closers: Sequence[Closer] = (),
) -> ConsumerProcess:
    """Wire a consumer process of ``settings.service_name``: one broker, one consumer a topic.

    Args:
        settings: the service's settings (Kafka, readiness budget, the service's name).
        version: the service's version, served by the health app.
        engine: the database engine ``unit_of_work`` runs on; readiness checks it, and
            :func:`serve_consumers` disposes of it last.
        unit_of_work: fresh units of work; each event's claim, writes and outbox rows commit
            in one of them.
        group: the consumer group of every topic (the inbox's deduplication scope).
        topics: ``{topic: {ce_type: handler}}``, one :class:`IdempotentConsumer` each.
        policy: attempts and backoff for transient failures (the chassis' default if None).
        max_workers: partitions each consumer handles concurrently.
        readiness: checks served by ``/health/ready`` besides ``postgres`` and ``kafka``.
        closers: what the service opened for the consumers (doorbells, clients), closed in
            order when the health server stops, after the Kafka probe.
    """
    consumers = [
        IdempotentConsumer(
            topic=topic,
            group=group,
            handlers=handlers,
            kafka=settings.kafka,
            unit_of_work=unit_of_work,
            policy=policy,
            max_workers=max_workers,
        )
        for topic, handlers in topics.items()
    ]
    kafka = KafkaProbe(settings.kafka)
    health = create_app(
        title=f"Ordo {settings.service_name} consumer",
        version=version,
        settings=settings,
        readiness={
            "postgres": partial(check_postgres, engine),
            "kafka": kafka,
            **(readiness or {}),
        },
        lifespan=closing_lifespan(kafka.close, *closers),
        readiness_timeout_s=settings.readiness_timeout_s,
    )
    return ConsumerProcess(consumers, health, engine, settings.kafka.bootstrap_servers)


async def serve_consumers(
    process: ConsumerProcess, *, host: str, port: int, partitions: int
) -> None:
    """Consume until SIGTERM/SIGINT, then shut down without losing an offset commit.

    Creates each consumer's retry lane and dead-letter topic first (``partitions`` as the source
    topics'), starts the consumers, serves health on ``host:port``; on a signal the health
    server stops, each consumer finishes the batch in progress, flushes its offset commits and
    stops, and the engine is disposed of.
    """
    await process.start(partitions=partitions)
    server = GracefulServer(
        uvicorn.Config(process.health, host=host, port=port, log_config=None, access_log=False)
    )
    try:
        await server.serve()  # returns on SIGTERM/SIGINT
    finally:
        await process.stop()
