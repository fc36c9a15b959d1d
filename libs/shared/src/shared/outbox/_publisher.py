"""One publish loop of a relay replica, over its share of the replica's lanes.

A replica runs ``RelayConfig.publishers`` loops; loop ``i`` serves the owned lanes with
``lane % publishers == i``. A lane therefore has exactly one loop, which runs rounds one at a
time (read in ``seq`` order, send, wait, mark the acknowledged prefix): the order argument of
:mod:`shared.outbox._publish` holds per loop. Several loops let one loop's database and
broker round trips overlap another's sending, which is where a single loop spends its time idle.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog
from aiokafka import AIOKafkaProducer

from shared.errors import is_transient
from shared.outbox._config import RelayConfig
from shared.outbox._metrics import RelayMetrics
from shared.outbox._pg import Backoff, PgConnection, close_quietly, record_error, sleep_or_stop
from shared.outbox._publish import RoundResult, publish_round, settle
from shared.outbox._store import OutboxStore
from shared.outbox._wakeup import RelayWakeup

__all__ = ["LaneBackoff", "LanePublisher"]

log = structlog.get_logger(__name__)

# Rounds in a row in which every send failed outright before the producer is rebuilt: aiokafka
# keeps a fatal error (fenced, closed) in its accumulator and fails every later send with it.
FATAL_ROUNDS = 3


class LaneBackoff:
    """Lanes whose head row failed, and when each may be tried again (shared by the loops)."""

    def __init__(self, config: RelayConfig) -> None:
        """Back off from ``lane_backoff_initial_s`` doubling to ``lane_backoff_max_s``."""
        self._config = config
        self._lanes: dict[int, tuple[Backoff, float]] = {}

    def ready(self, lane: int, now: float) -> bool:
        """True when ``lane`` is not waiting out a backoff."""
        entry = self._lanes.get(lane)
        return entry is None or entry[1] <= now

    def failed(self, lane: int) -> None:
        """Start (or lengthen) the lane's backoff."""
        entry = self._lanes.get(lane)
        cfg = self._config
        backoff = entry[0] if entry else Backoff(cfg.lane_backoff_initial_s, cfg.lane_backoff_max_s)
        self._lanes[lane] = (backoff, time.monotonic() + backoff.next_delay())

    def succeeded(self, lane: int) -> None:
        """Clear the lane's backoff."""
        self._lanes.pop(lane, None)

    def next_expiry(self, lanes: frozenset[int]) -> float | None:
        """The earliest monotonic time one of ``lanes`` becomes ready again, if any waits."""
        times = [until for lane, (_, until) in self._lanes.items() if lane in lanes]
        return min(times) if times else None


class LanePublisher:
    """Runs rounds for the lanes ``lane % count == index`` of the replica's owned lanes."""

    def __init__(
        self,
        *,
        index: int,
        count: int,
        config: RelayConfig,
        store: OutboxStore,
        metrics: RelayMetrics,
        wakeup: RelayWakeup,
        backoff: LaneBackoff,
        owned: Callable[[], frozenset[int]],
        producer: Callable[[], Awaitable[AIOKafkaProducer]],
        connect: Callable[[], Awaitable[PgConnection]],
        fatal: Callable[[], Awaitable[None]],
    ) -> None:
        """Wire the loop to the replica's shared parts."""
        self.index, self.count, self.config = index, count, config
        self._store, self._metrics, self._wakeup, self._backoff = store, metrics, wakeup, backoff
        self._owned, self._producer, self._connect, self._fatal = owned, producer, connect, fatal
        # Held for a whole round; the replica releases lanes only while holding every loop's
        # lock, so it never gives away a lane whose rows are in flight.
        self.lock = asyncio.Lock()
        self._conn: PgConnection | None = None
        self._fatal_rounds = 0

    def lanes(self) -> frozenset[int]:
        """This loop's share of the owned lanes."""
        return frozenset(lane for lane in self._owned() if lane % self.count == self.index)

    async def run(self, stopping: asyncio.Event) -> None:
        """Run rounds until ``stopping`` is set; reconnect with backoff on IO errors."""
        backoff = Backoff(0.1, self.config.reconnect_backoff_max_s)
        try:
            while not stopping.is_set():
                seen = self._wakeup.generation_of(self.index)
                try:
                    rows = await self.publish_once()
                    backoff.reset()
                except Exception as error:
                    log.warning("outbox.relay.round_failed", **record_error(error))
                    await self.close()
                    await sleep_or_stop(stopping, backoff.next_delay())
                    continue
                if rows < self.config.batch_size:
                    await self._wakeup.wait(seen, self._idle_wait(), slot=self.index)
        finally:
            await self.close()

    async def close(self) -> None:
        """Close this loop's connection."""
        conn, self._conn = self._conn, None
        await close_quietly(conn)

    def _idle_wait(self) -> float:
        wait = self.config.poll_interval_s
        expiry = self._backoff.next_expiry(self.lanes())
        if expiry is not None:
            wait = min(wait, max(expiry - time.monotonic(), 0.0))
        return wait

    async def publish_once(self) -> int:
        """Run one round on this loop's ready lanes; return how many rows were read."""
        cfg = self.config
        async with self.lock:
            now = time.monotonic()
            lanes = [lane for lane in self.lanes() if self._backoff.ready(lane, now)]
            if not lanes:
                return 0
            if self._conn is None or self._conn.is_closed():
                self._conn = await self._connect()
            rows = await self._store.fetch(
                self._conn, lanes, cfg.batch_size, timeout=cfg.db_timeout_s
            )
            if not rows:
                return 0
            producer = await self._producer()
            outcomes = await publish_round(producer, rows, timeout=cfg.publish_timeout_s)
            result = settle(rows, outcomes)
            await self._store.mark_published(
                self._conn, [row.id for row in result.published], timeout=cfg.db_timeout_s
            )
            await self._settle_lanes(self._conn, result)
            return len(rows)

    async def _settle_lanes(self, conn: PgConnection, result: RoundResult) -> None:
        self._metrics.published(len(result.published))
        for lane in {row.lane for row in result.published}:
            self._backoff.succeeded(lane)
        for lane, (row, error) in result.failed.items():
            self._backoff.failed(lane)
            reason = f"{type(error).__name__}: {error}" if error else "no acknowledgement in time"
            await self._store.record_failure(conn, row.id, reason, timeout=self.config.db_timeout_s)
        if not result.failed:
            self._fatal_rounds = 0
            return
        self._metrics.failed(len(result.failed))
        first_error = next(iter(result.failed.values()))[1]
        log.warning(
            "outbox.relay.lanes_stopped",
            lanes=len(result.failed),
            published=len(result.published),
            **(record_error(first_error) if first_error else {"error": "timeout"}),
        )
        fatal = not result.published and all(
            error is not None and not is_transient(error) for _, error in result.failed.values()
        )
        self._fatal_rounds = self._fatal_rounds + 1 if fatal else 0
        if self._fatal_rounds >= FATAL_ROUNDS:
            self._fatal_rounds = 0
            await self._fatal()
