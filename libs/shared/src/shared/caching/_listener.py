"""Cross-instance invalidation: every API instance follows its service's own event topic.

Each instance reads the topic with no consumer group at all (``group_id=None``): the limit
case of a unique, non-committing group. It gets every partition, starts at the latest offset
(older events describe changes its empty cache never saw), commits nothing and leaves nothing
behind in the broker. For each event the service's mapping invalidates the keys the event
touches, in-process and in Redis. While the listener does not follow the topic (starting,
broker lost, restarting) the :class:`LocalCacheGate` is closed: in-process layers neither
serve nor fill, and reopen empty once the listener has its positions again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord

from shared.caching._gate import LocalCacheGate
from shared.caching._metrics import CacheMetrics, default_cache_metrics
from shared.settings import KafkaSettings

__all__ = ["CacheInvalidationListener", "ChangeEvent", "OnChange"]

log = structlog.get_logger(__name__)

_MAX_RETRY_DELAY_S = 30.0


@dataclass(frozen=True, slots=True)
class ChangeEvent:
    """One event of the followed topic, as the service's mapping receives it.

    Attributes:
        type: the CloudEvents type (``ce_type``).
        org_id: the tenant (``ce_orgid``), if the event names one.
        key: the record key (the aggregate id), if any.
        data: the JSON payload.
        id: the event's id (``ce_id``), if given: a service can tell its own writes' events
            (already invalidated in Redis after its commit) from another instance's.
    """

    type: str
    org_id: str | None
    key: str | None
    data: Any
    id: str | None = None


OnChange = Callable[[ChangeEvent], Awaitable[bool]]
"""Invalidates what an event touches; returns False for an event that touches nothing cached."""


class CacheInvalidationListener:
    """Follows ``topic`` and invalidates what each event touches, in this instance and Redis.

    Start it in the app's lifespan and stop it on shutdown. An event it cannot read (no
    ``ce_type``, a body that is not JSON, a mapping that raises) empties the in-process layers
    rather than risk keeping what it might have changed.

    Args:
        topic: the service's own event topic (``catalog.events``).
        kafka: the cluster.
        on_change: the service's mapping from an event to the keys it invalidates.
        gate: opened while the topic is followed, closed otherwise.
        metrics: where events and the up/down state are counted (process default if None).
        retry_delay_s: first wait before reconnecting after a failure (doubles up to 30 s).
        assignment_timeout_s: how long to wait for the topic's partitions (a missing topic
            fails the attempt and is retried).
    """

    def __init__(
        self,
        *,
        topic: str,
        kafka: KafkaSettings,
        on_change: OnChange,
        gate: LocalCacheGate,
        metrics: CacheMetrics | None = None,
        retry_delay_s: float = 1.0,
        assignment_timeout_s: float = 10.0,
    ) -> None:
        self.topic = topic
        self.gate = gate
        self._kafka = kafka
        self._on_change = on_change
        self._metrics = metrics if metrics is not None else default_cache_metrics()
        self._retry_delay_s = retry_delay_s
        self._assignment_timeout_s = assignment_timeout_s
        self._stopping = asyncio.Event()
        self._live = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._set_live(False)

    @property
    def live(self) -> bool:
        """True while the topic is followed (and in-process layers serve)."""
        return self._live.is_set()

    async def wait_live(self, timeout_s: float) -> bool:
        """Wait until the topic is followed; False if it is not within ``timeout_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._live.wait()
        return self.live

    def start(self) -> None:
        """Follow the topic in a background task (returns at once; see :meth:`wait_live`)."""
        if self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._run(), name=f"cache-listener-{self.topic}")

    async def stop(self) -> None:
        """Stop following the topic and wait for the consumer to close."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_live(False)

    def _set_live(self, live: bool) -> None:
        if live:
            self.gate.open()
            self._live.set()
        else:
            self.gate.close()
            self._live.clear()
        self._metrics.listener_up.labels(topic=self.topic).set(1 if live else 0)

    async def _run(self) -> None:
        delay = self._retry_delay_s
        while not self._stopping.is_set():
            consumer = AIOKafkaConsumer(
                self.topic,
                bootstrap_servers=self._kafka.bootstrap_servers,
                client_id=f"{self._kafka.client_id}-cache-invalidation",
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="latest",
                # The broker answers a fetch as soon as a record arrives (fetch_min_bytes=1):
                # the wait only paces empty fetches, five a second at 200 ms, one at 1 s.
                fetch_max_wait_ms=1000,
                request_timeout_ms=int(self._kafka.request_timeout_s * 1000),
            )
            try:
                await consumer.start()
                await self._take_positions(consumer)
                self._set_live(True)
                delay = self._retry_delay_s
                log.info("cache_listener_following", topic=self.topic)
                while not self._stopping.is_set():
                    batch = await consumer.getmany(timeout_ms=500)
                    for records in batch.values():
                        for record in records:
                            await self._apply(record)
            except Exception as exc:
                log.warning(
                    "cache_listener_failed",
                    topic=self.topic,
                    error=type(exc).__name__,
                    retry_in_s=delay,
                )
            finally:
                self._set_live(False)
                with contextlib.suppress(Exception):
                    await consumer.stop()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stopping.wait()
            delay = min(delay * 2, _MAX_RETRY_DELAY_S)

    async def _take_positions(self, consumer: AIOKafkaConsumer) -> None:
        """Wait for every partition and resolve its (latest) offset, so nothing after is missed."""
        async with asyncio.timeout(self._assignment_timeout_s):
            while not consumer.assignment():  # noqa: ASYNC110 - aiokafka offers no event
                await asyncio.sleep(0.05)
            for partition in consumer.assignment():
                await consumer.position(partition)

    async def _apply(self, record: ConsumerRecord[Any, Any]) -> None:
        headers = {name: value.decode("utf-8", "replace") for name, value in record.headers or ()}
        event_type = headers.get("ce_type")
        try:
            data = json.loads(record.value) if record.value is not None else None
        except ValueError:
            data = None
            event_type = None
        if event_type is None:
            self._unknown_change(record)
            return
        key = record.key.decode("utf-8", "replace") if record.key is not None else None
        event = ChangeEvent(event_type, headers.get("ce_orgid"), key, data, headers.get("ce_id"))
        try:
            touched = await self._on_change(event)
        except Exception:
            log.exception("cache_invalidation_mapping_failed", topic=self.topic, type=event_type)
            self._unknown_change(record)
            return
        outcome = "applied" if touched else "ignored"
        self._metrics.invalidation_events_total.labels(topic=self.topic, outcome=outcome).inc()

    def _unknown_change(self, record: ConsumerRecord[Any, Any]) -> None:
        """Something changed and we cannot tell what: forget everything held in-process."""
        self._metrics.invalidation_events_total.labels(topic=self.topic, outcome="malformed").inc()
        log.warning(
            "cache_invalidation_event_unreadable",
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
        )
        self.gate.flush()
