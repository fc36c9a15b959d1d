"""The saga's path as orders-worker sees it (:class:`orders.application.saga_path.SagaPathProbe`).

- :class:`KafkaSagaPath`: blocked when the broker does not answer the worker within a timeout,
  or when a consumer group on the path has records waiting on a partition and has not moved its
  committed offset there for ``stall_s`` (the consumer is down, stuck, or reconnecting after a
  broker restart). It probes in the background every ``interval_s`` (started by the first
  ``blocked()``), so a sweep never waits on the broker; until its first probe ends it reports
  the broker as not yet seen. Two long-lived clients (an admin client and a group-less consumer
  for end offsets), opened on first use and dropped after any failure, so a broker that comes
  back is found again at the next probe.
- :class:`SqlaOutboxStall`: blocked when orders' own relay has not published rows that are older
  than ``max_age_s`` (relay down, or the broker refusing it). The ``quorum``-th oldest row is
  measured: one row held back in its lane is that aggregate's problem, not the path's.
- :class:`FirstBlocked`: the first reason of several probes; logs when the path blocks and
  clears.

Probes never raise: what cannot be measured is reported as a reason to hold (runbook:
docs/runbooks/saga-deadlines.md). Each costs a few requests or one indexed statement, once per
sweep (every second by default), whatever the number of orders.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from orders.adapters.persistence.tables import outbox
from orders.application.saga_path import SagaPathProbe
from shared.settings import KafkaSettings

__all__ = ["FirstBlocked", "KafkaSagaPath", "Lane", "SqlaOutboxStall"]

log = structlog.get_logger(__name__)

Lane = tuple[str, str]
"""A consumer group and the topic it reads, on the saga's path."""
_TOPICS_TTL_S = 60.0  # partitions are added rarely; re-read them now and then


class KafkaSagaPath:
    """Kafka reachable from here, and the path's consumer groups moving where records wait.

    Args:
        kafka: the cluster (``request_timeout_s`` bounds each client request).
        lanes: the ``(group, topic)`` pairs the saga's messages go through.
        timeout_s: the most one probe may take; beyond, the broker counts as unreachable.
        stall_s: how long a group may keep records waiting without committing progress.
        interval_s: the pause between two background probes.
        monotonic: the clock of stalls (tests).
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        lanes: Sequence[Lane],
        *,
        timeout_s: float = 3.0,
        stall_s: float = 10.0,
        interval_s: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._kafka, self._lanes = kafka, tuple(lanes)
        self._timeout_s, self._stall_s, self._monotonic = timeout_s, stall_s, monotonic
        self._interval_s = interval_s
        self._state: str | None = "Kafka has not been probed yet"
        self._task: asyncio.Task[None] | None = None
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: dict[str, list[TopicPartition]] = {}
        self._partitions_at = -_TOPICS_TTL_S
        # (group, partition) -> (committed offset, since when it has not moved with lag > 0)
        self._seen: dict[tuple[str, TopicPartition], tuple[int, float]] = {}

    async def blocked(self) -> str | None:
        """The last background probe's answer (starting the probing on first call)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._probe_forever(), name="orders-saga-path")
        return self._state

    async def probe_once(self) -> str | None:
        """Why the path cannot move now (unreachable broker, stalled group), or None."""
        try:
            return await asyncio.wait_for(self._look(), self._timeout_s)
        except Exception as exc:  # any failure: the broker's state is unknown
            await self._close_clients()
            return f"Kafka did not answer orders-worker ({type(exc).__name__})"

    async def close(self) -> None:
        """Stop probing and close the clients (a later ``blocked()`` starts again)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._close_clients()

    async def _probe_forever(self) -> None:
        while True:
            self._state = await self.probe_once()
            await asyncio.sleep(self._interval_s)

    async def _close_clients(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        with contextlib.suppress(Exception):  # closing a broken client: nothing to do
            if admin is not None:
                await admin.close()
        with contextlib.suppress(Exception):
            if consumer is not None:
                await consumer.stop()

    async def _look(self) -> str | None:
        admin, consumer = await self._clients()
        partitions = await self._topic_partitions(admin)
        wanted = [tp for tps in partitions.values() for tp in tps]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(wanted) if wanted else {}
        now = self._monotonic()
        for group, topic in self._lanes:
            tps = partitions.get(topic, [])
            committed = await admin.list_consumer_group_offsets(group, partitions=tps)
            for tp in tps:
                meta = committed.get(tp)
                position = meta.offset if meta is not None and meta.offset >= 0 else 0
                stalled = self._stalled(group, tp, position, ends.get(tp, 0), now)
                if stalled is not None:
                    return stalled
        return None

    def _stalled(
        self, group: str, tp: TopicPartition, position: int, end: int, now: float
    ) -> str | None:
        key = (group, tp)
        if end <= position:
            self._seen.pop(key, None)  # caught up: nothing waits for this group here
            return None
        previous = self._seen.get(key)
        if previous is None or previous[0] != position:
            self._seen[key] = (position, now)
            return None
        waited = now - previous[1]
        if waited < self._stall_s:
            return None
        return (
            f"consumer group {group} has not moved on {tp.topic}[{tp.partition}] for "
            f"{waited:.0f} s with {end - position} record(s) waiting"
        )

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            await self._close_clients()
            settings: dict[str, Any] = {
                "bootstrap_servers": self._kafka.bootstrap_servers,
                "client_id": f"{self._kafka.client_id}-saga-path",
                "request_timeout_ms": int(self._kafka.request_timeout_s * 1000),
            }
            admin = AIOKafkaAdminClient(**settings)
            consumer = AIOKafkaConsumer(enable_auto_commit=False, **settings)
            self._admin, self._consumer = admin, consumer
            await admin.start()
            await consumer.start()
            self._partitions_at = -_TOPICS_TTL_S
        return self._admin, self._consumer

    async def _topic_partitions(
        self, admin: AIOKafkaAdminClient
    ) -> dict[str, list[TopicPartition]]:
        if self._monotonic() - self._partitions_at < _TOPICS_TTL_S:
            return self._partitions
        topics = sorted({topic for _, topic in self._lanes})
        found: dict[str, list[TopicPartition]] = {}
        for description in await admin.describe_topics(topics):
            if description.get("error_code", 0) == 0:
                name = description["topic"]
                found[name] = sorted(
                    TopicPartition(name, p["partition"]) for p in description["partitions"]
                )
        self._partitions, self._partitions_at = found, self._monotonic()
        return found


_skip = bindparam("skip", type_=Integer)
_OLDEST_UNPUBLISHED_AGE = (
    select(func.extract("epoch", func.now() - outbox.c.created_at))
    .where(outbox.c.published_at.is_(None))
    .order_by(outbox.c.seq)
    .offset(_skip)
    .limit(1)
)


class SqlaOutboxStall:
    """Orders' relay publishing: blocked when unpublished rows wait longer than ``max_age_s``.

    Args:
        engine: orders' database.
        max_age_s: how old the ``quorum``-th oldest unpublished row may get.
        quorum: how many rows must be that old (the partial index of unpublished rows makes
            this one short index read).
    """

    def __init__(self, engine: AsyncEngine, *, max_age_s: float = 5.0, quorum: int = 3) -> None:
        if quorum < 1:
            raise ValueError("quorum must be at least 1")
        self._engine, self._max_age_s, self._params = engine, max_age_s, {"skip": quorum - 1}

    async def blocked(self) -> str | None:
        """Why orders' relay is not publishing, or None."""
        try:
            async with self._engine.connect() as connection:
                age = await connection.scalar(_OLDEST_UNPUBLISHED_AGE, self._params)
        except Exception as exc:  # the sweep itself fails and says why
            return f"orders' outbox could not be read ({type(exc).__name__})"
        if age is None or float(age) < self._max_age_s:
            return None
        return f"orders' relay has not published rows waiting for {float(age):.0f} s"


class FirstBlocked:
    """The first reason any of ``probes`` gives, in order (cheapest first); logs changes."""

    def __init__(self, probes: Sequence[SagaPathProbe]) -> None:
        self._probes = tuple(probes)
        self._last: str | None = None

    async def blocked(self) -> str | None:
        """The first probe's reason, or None when every probe sees the path moving."""
        reason = None
        for probe in self._probes:
            reason = await probe.blocked()
            if reason is not None:
                break
        if (reason is None) != (self._last is None):
            if reason is None:
                log.info("saga_path.clear", previously=self._last)
            else:
                log.warning("saga_path.blocked", reason=reason)
        self._last = reason
        return reason
