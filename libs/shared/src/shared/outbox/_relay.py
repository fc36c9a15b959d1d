"""The relay: publishes committed outbox rows to Kafka in order per key, from many replicas.

A replica runs:

- a *control* loop on a dedicated connection that holds the lane and member advisory locks
  (:mod:`shared.outbox._lanes`), rebalances every ``rebalance_interval_s`` and LISTENs for
  the writers' NOTIFY, ringing the doorbell;
- ``publishers`` *publish* loops (:mod:`shared.outbox._publisher`), each over its share of the
  owned lanes: wait for the doorbell or the polling interval, then run rounds until its lanes
  are drained;
- a *maintenance* loop: backlog gauges, and deletion of rows published before the retention.

Every database call has a deadline; a lost connection is reopened with jittered backoff; a
Kafka outage stops lanes (backing off) without losing rows, which stay unpublished in the table.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from datetime import timedelta

import structlog
from aiokafka import AIOKafkaProducer
from sqlalchemy import Table

from shared.clock import Clock, SystemClock
from shared.observability.metrics import Metrics, default_metrics
from shared.outbox._config import RelayConfig
from shared.outbox._lanes import LaneLeases
from shared.outbox._metrics import RelayMetrics
from shared.outbox._pg import (
    Backoff,
    PgConnection,
    close_quietly,
    connect,
    record_error,
    sleep_or_stop,
)
from shared.outbox._publisher import LaneBackoff, LanePublisher
from shared.outbox._schema import DEFAULT_TABLE, OutboxNames
from shared.outbox._store import OutboxStore
from shared.outbox._wakeup import RelayWakeup
from shared.settings import DatabaseSettings

__all__ = ["OutboxRelay"]

log = structlog.get_logger(__name__)

ProducerFactory = Callable[[], AIOKafkaProducer]


class OutboxRelay:
    """One relay replica for one outbox table. Run as many replicas as you like.

    Args:
        database: the service's database; the relay opens its own dedicated connections
            (control, one per publish loop, maintenance).
        producer_factory: builds an (unstarted) idempotent ``acks=all`` producer; the relay
            starts it, and rebuilds it after repeated fatal producer errors.
        service: the ``service`` label of the metrics and the connections' application name.
        table: the outbox table (or its name).
        config: tuning; lanes must match the writers'.
        metrics: where the gauges live; the process default when omitted.
        wakeup: the doorbell the unit of work rings after commits in this process.
        clock: the retention cutoff's clock.
    """

    def __init__(
        self,
        *,
        database: DatabaseSettings,
        producer_factory: ProducerFactory,
        service: str,
        table: Table | str = DEFAULT_TABLE,
        config: RelayConfig | None = None,
        metrics: Metrics | None = None,
        wakeup: RelayWakeup | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.config = cfg = config or RelayConfig()
        self.names = (
            OutboxNames(table.name, table.schema)
            if isinstance(table, Table)
            else OutboxNames(table)
        )
        self.wakeup = wakeup or RelayWakeup()
        self.wakeup.use_slots(self.config.publishers)  # one per publish loop: lane % loops
        self._database = database
        self._producer_factory = producer_factory
        self._service = service
        self._clock = clock or SystemClock()
        self._metrics = RelayMetrics(metrics or default_metrics(), service)
        self._store = OutboxStore(self.names)
        self._leases = LaneLeases(self.names, cfg.lanes)
        self._stopping = asyncio.Event()
        self._publishing_done = asyncio.Event()
        self._producer: AIOKafkaProducer | None = None
        self._producer_lock = asyncio.Lock()
        backoff = LaneBackoff(cfg)
        self.publishers = [
            LanePublisher(
                index=i,
                count=cfg.publishers,
                config=cfg,
                store=self._store,
                metrics=self._metrics,
                wakeup=self.wakeup,
                backoff=backoff,
                owned=lambda: self._leases.owned,
                producer=self._ensure_producer,
                connect=functools.partial(self._connect, f"publish-{i}"),
                fatal=self._rebuild_producer,
            )
            for i in range(cfg.publishers)
        ]

    @property
    def owned_lanes(self) -> frozenset[int]:
        """The lanes this replica owns right now."""
        return self._leases.owned

    def stop(self) -> None:
        """Ask the relay to finish its current rounds and return from :meth:`run`."""
        self._stopping.set()
        self.wakeup.ring()

    async def run(self) -> None:
        """Relay until :meth:`stop` is called (or the task is cancelled); a relay runs once."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._control_loop(), name="outbox-relay-control")
                tasks.create_task(self._publish(), name="outbox-relay-publish")
                tasks.create_task(self._maintenance_loop(), name="outbox-relay-maintenance")
        finally:
            await self._close_producer()

    async def publish_once(self) -> int:
        """Run one round in every publish loop; return how many rows were read (tests, tools)."""
        return sum([await p.publish_once() for p in self.publishers])

    def _app_name(self, role: str) -> str:
        return f"{self._service}-outbox-{role}"[:63]

    async def _connect(self, role: str, **extra: str) -> PgConnection:
        return await connect(
            self._database,
            application_name=self._app_name(role),
            timeout_s=self.config.db_timeout_s,
            extra_settings=extra,
        )

    async def _publish(self) -> None:
        try:
            async with asyncio.TaskGroup() as tasks:
                for publisher in self.publishers:
                    tasks.create_task(publisher.run(self._stopping))
        finally:
            self._publishing_done.set()

    # -- control: lanes and LISTEN -------------------------------------------------------------

    async def _control_loop(self) -> None:
        cfg = self.config
        backoff = Backoff(0.2, cfg.reconnect_backoff_max_s)
        while not self._stopping.is_set():
            conn: PgConnection | None = None
            try:
                idle = f"{int(cfg.idle_session_timeout_s * 1000)}"
                conn = await self._connect("control", idle_session_timeout=idle)
                if cfg.listen:
                    await conn.add_listener(self.names.channel, self._on_notify)
                await self._leases.join(conn, timeout=cfg.db_timeout_s)
                backoff.reset()
                while not self._stopping.is_set():
                    await self._rebalance(conn)
                    await sleep_or_stop(self._stopping, cfg.rebalance_interval_s)
                # Stopping: let the last rounds finish before the session (and its locks) ends.
                await self._publishing_done.wait()
            except Exception as error:
                log.warning("outbox.relay.control_failed", **record_error(error))
            finally:
                self._leases.forget()
                self._metrics.lanes_owned(0)
                await close_quietly(conn)
            if not self._stopping.is_set():
                await sleep_or_stop(self._stopping, backoff.next_delay())

    async def _rebalance(self, conn: PgConnection) -> None:
        timeout = self.config.db_timeout_s
        plan = await self._leases.survey(conn, timeout=timeout)
        if plan.release:
            async with contextlib.AsyncExitStack() as held:
                for publisher in self.publishers:
                    await held.enter_async_context(publisher.lock)
                await self._leases.release(conn, plan.release, timeout=timeout)
            log.info("outbox.relay.lanes_released", lanes=len(plan.release))
        if plan.acquire:
            gained = await self._leases.acquire(
                conn, plan.candidates, plan.acquire, timeout=timeout
            )
            if gained:
                log.info("outbox.relay.lanes_acquired", lanes=len(gained))
                self.wakeup.ring()  # the new lanes may have a backlog
        self._metrics.lanes_owned(len(self._leases.owned))

    def _on_notify(self, *_: object) -> None:
        self.wakeup.ring()

    # -- the producer --------------------------------------------------------------------------

    async def _ensure_producer(self) -> AIOKafkaProducer:
        async with self._producer_lock:
            if self._producer is None:
                producer = self._producer_factory()
                try:
                    async with asyncio.timeout(self.config.publish_timeout_s):
                        await producer.start()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 5)
                    raise
                self._producer = producer
            return self._producer

    async def _rebuild_producer(self) -> None:
        log.error("outbox.relay.producer_rebuilt")
        await self._close_producer()

    async def _close_producer(self) -> None:
        producer, self._producer = self._producer, None
        if producer is not None:
            try:
                # stop() flushes what is buffered; bounded, since the broker may be gone.
                await asyncio.wait_for(producer.stop(), self.config.publish_timeout_s)
            except Exception as error:
                log.warning("outbox.relay.producer_stop_failed", **record_error(error))

    # -- maintenance ---------------------------------------------------------------------------

    async def _maintenance_loop(self) -> None:
        cfg = self.config
        conn: PgConnection | None = None
        next_cleanup = time.monotonic() + min(cfg.cleanup_interval_s, 5.0)
        try:
            while not self._stopping.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await self._connect("maintenance")
                    await self.refresh_metrics(conn)
                    if time.monotonic() >= next_cleanup:
                        await self.cleanup(conn)
                        next_cleanup = time.monotonic() + cfg.cleanup_interval_s
                except Exception as error:
                    log.warning("outbox.relay.maintenance_failed", **record_error(error))
                    await close_quietly(conn)
                    conn = None
                await sleep_or_stop(self._stopping, cfg.metrics_interval_s)
        finally:
            await close_quietly(conn)

    async def refresh_metrics(self, conn: PgConnection) -> None:
        """Set the backlog gauges from the table (every replica reports the whole table)."""
        stats = await self._store.stats(conn, timeout=self.config.db_timeout_s)
        self._metrics.backlog(stats.backlog, stats.oldest_age_s)

    async def cleanup(self, conn: PgConnection) -> int:
        """Delete rows published more than ``retention_s`` ago, in batches; return the count."""
        cfg = self.config
        cutoff = self._clock.now() - timedelta(seconds=cfg.retention_s)
        total = 0
        while not self._stopping.is_set():
            deleted = await self._store.delete_published(
                conn, cutoff, cfg.cleanup_batch, timeout=cfg.db_timeout_s
            )
            total += deleted or 0
            if not deleted or deleted < cfg.cleanup_batch:
                break
        if total:
            log.info("outbox.relay.cleaned", rows=total)
        return total
