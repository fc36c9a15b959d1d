"""Housekeeping: the deletions every service with a database needs, declared once, run by the
chassis.

A service declares its chores in one place, its :class:`~shared.process.ServiceSpec`; the
chassis runs them with the relay role, one :class:`~shared.periodic.PeriodicJob` per chore::

    SPEC = ServiceSpec(..., housekeeping=declare(
        outbox=outbox, idempotency_keys=idempotency_keys, inbox=True
    ))

The common chores (:func:`standard_chores`), each ``<service>.purge_<what>``:

- ``purge_idempotency_keys``: Idempotency-Key records past their expiry (24 h);
- ``purge_inbox``: inbox rows, parked keys and replay marks older than the inbox retention
  (``ORDO_HOUSEKEEPING__INBOX_RETENTION_DAYS``, 30 days, never under 8);
- ``purge_outbox``: outbox rows published more than ``outbox_retention_s`` ago (the relay
  does not clean up on its own when a service declares housekeeping).

A service adds its own (notifications' delivery log) as :class:`Chore` s through ``own``.
Every run is counted in ``jobs_total{job, outcome}`` (by :class:`~shared.periodic.PeriodicJob`),
its deleted rows in ``housekeeping_rows_deleted_total{job}``, and a successful run sets
``housekeeping_last_success_timestamp_seconds{job}``. Each chore is one or a few idempotent
``DELETE`` s of what is due, so replicas running them at once do no harm.
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import Clock, SystemClock
from shared.db import create_session_factory
from shared.db.idempotency import purge_idempotency_records
from shared.inbox import purge_inbox
from shared.observability.metrics import Metrics, default_metrics
from shared.outbox import OutboxNames
from shared.outbox._store import OutboxStore
from shared.periodic import PeriodicJob
from shared.settings import HousekeepingSettings, ServiceSettings

__all__ = [
    "RELAY_CLEANUP_OFF",
    "Chore",
    "Declared",
    "Housekeeping",
    "HousekeepingSettings",
    "declare",
    "idempotency_key_purge",
    "inbox_purge",
    "outbox_purge",
    "standard_chores",
]

RELAY_CLEANUP_OFF = math.inf
"""The relay's ``cleanup_interval_s`` when housekeeping purges the outbox instead."""

Run = Callable[[], Awaitable[int]]
"""One run of a chore; returns how many rows it deleted."""


@dataclass(frozen=True, slots=True)
class Chore:
    """One periodic deletion: its job name (``<service>.purge_<what>``), run and interval."""

    name: str
    run: Run
    interval_s: float


# -- the common chores -----------------------------------------------------------------------


def idempotency_key_purge(
    name: str, engine: AsyncEngine, table: Table, *, interval_s: float, clock: Clock | None = None
) -> Chore:
    """Delete the Idempotency-Key records of ``table`` that expired (one DELETE)."""
    sessions = create_session_factory(engine)
    now = (clock or SystemClock()).now

    async def run() -> int:
        async with sessions() as session, session.begin():
            return await purge_idempotency_records(session, table, now())

    return Chore(name, run, interval_s)


def inbox_purge(
    name: str,
    engine: AsyncEngine,
    *,
    retention: timedelta,
    interval_s: float,
    clock: Clock | None = None,
) -> Chore:
    """Delete inbox rows older than ``retention`` (see :func:`shared.inbox.purge_inbox`)."""
    sessions = create_session_factory(engine)

    async def run() -> int:
        result = await purge_inbox(sessions, older_than=retention, clock=clock)
        return result.messages + result.parked_keys + result.replay_marks

    return Chore(name, run, interval_s)


def outbox_purge(
    name: str,
    engine: AsyncEngine,
    table: Table,
    *,
    retention_s: float,
    interval_s: float,
    batch: int = 5000,
    timeout_s: float = 5.0,
    clock: Clock | None = None,
) -> Chore:
    """Delete outbox rows published more than ``retention_s`` ago, ``batch`` rows a statement.

    The relay's own statement (an index range on the UUID v7 ids, one replica at a time under
    an advisory lock), run on a connection of ``engine``'s pool.
    """
    store = OutboxStore(OutboxNames(table.name, table.schema))
    now = (clock or SystemClock()).now

    async def run() -> int:
        cutoff = now() - timedelta(seconds=retention_s)
        total = 0
        async with engine.connect() as conn:
            raw = await conn.get_raw_connection()
            pg = raw.driver_connection
            while True:
                deleted = await store.delete_published(pg, cutoff, batch, timeout=timeout_s)
                total += deleted or 0
                if not deleted or deleted < batch:
                    return total

    return Chore(name, run, interval_s)


class Declared(Protocol):
    """A service's housekeeping as its ``ServiceSpec`` names it: chores built on an engine."""

    def __call__(
        self, settings: Any, engine: AsyncEngine, *, clock: Clock | None = None
    ) -> list[Chore]:
        """The chores, on ``engine``; ``clock`` (tests) moves what is due."""
        ...


def declare(
    *,
    outbox: Table | None = None,
    idempotency_keys: Table | None = None,
    inbox: bool = False,
    own: Callable[[Any, AsyncEngine, Clock | None], Sequence[Chore]] | None = None,
) -> Declared:
    """A service's housekeeping in one line of its spec: the common chores of the tables it
    has, plus its ``own`` (``own(settings, engine, clock)``)."""

    def chores(settings: Any, engine: AsyncEngine, *, clock: Clock | None = None) -> list[Chore]:
        found = standard_chores(
            settings,
            engine,
            outbox=outbox,
            idempotency_keys=idempotency_keys,
            inbox=inbox,
            clock=clock,
        )
        if own is not None:
            found.extend(own(settings, engine, clock))
        return found

    return chores


def standard_chores(
    settings: ServiceSettings,
    engine: AsyncEngine,
    *,
    outbox: Table | None = None,
    idempotency_keys: Table | None = None,
    inbox: bool = False,
    clock: Clock | None = None,
) -> list[Chore]:
    """The common chores of a service: those of the tables it has, on ``settings.housekeeping``."""
    service, cfg = settings.service_name, settings.housekeeping
    chores: list[Chore] = []
    if idempotency_keys is not None:
        chores.append(
            idempotency_key_purge(
                f"{service}.purge_idempotency_keys",
                engine,
                idempotency_keys,
                interval_s=cfg.idempotency_interval_s,
                clock=clock,
            )
        )
    if inbox:
        chores.append(
            inbox_purge(
                f"{service}.purge_inbox",
                engine,
                retention=timedelta(days=cfg.inbox_retention_days),
                interval_s=cfg.inbox_interval_s,
                clock=clock,
            )
        )
    if outbox is not None:
        chores.append(
            outbox_purge(
                f"{service}.purge_outbox",
                engine,
                outbox,
                retention_s=cfg.outbox_retention_s,
                interval_s=cfg.outbox_interval_s,
                clock=clock,
            )
        )
    return chores


# -- running them ----------------------------------------------------------------------------


class Housekeeping:
    """Runs chores, each every its interval, until stopped; counts what they delete.

    Args:
        chores: what to run; names must be unique.
        metrics: where the counters go; the process default if None.
        clock: the clock of the last-success timestamps.
    """

    def __init__(
        self,
        chores: Sequence[Chore],
        *,
        metrics: Metrics | None = None,
        clock: Clock | None = None,
    ) -> None:
        names = [chore.name for chore in chores]
        if len(set(names)) != len(names):
            raise ValueError(f"chore names must be unique: {names}")
        self.chores = tuple(chores)
        metrics = metrics or default_metrics()
        self._rows, self._last = _instruments(metrics.registry)
        self._clock = clock or SystemClock()
        self.jobs = tuple(
            PeriodicJob(
                chore.name, self._counted(chore), interval_s=chore.interval_s, metrics=metrics
            )
            for chore in self.chores
        )

    def _counted(self, chore: Chore) -> Run:
        rows = self._rows.labels(job=chore.name)
        last = self._last.labels(job=chore.name)

        async def run() -> int:
            deleted = await chore.run()
            rows.inc(deleted)
            last.set(self._clock.now().timestamp())
            return deleted

        return run

    async def run(self) -> None:
        """Run every chore now, then every its interval, until :meth:`stop`."""
        await asyncio.gather(*(job.run() for job in self.jobs))

    def stop(self) -> None:
        """Let each chore finish its run in progress, then return from :meth:`run`."""
        for job in self.jobs:
            job.stop()

    async def run_once(self) -> dict[str, bool]:
        """Run each chore once (tests, the ops CLI); whether each succeeded, by name."""
        return {job.name: await job.run_once() for job in self.jobs}


_lock = threading.Lock()
_registered: WeakKeyDictionary[CollectorRegistry, tuple[Counter, Gauge]] = WeakKeyDictionary()


def _instruments(registry: CollectorRegistry) -> tuple[Counter, Gauge]:
    # Registered once per registry: tests build many Housekeeping objects in one process.
    with _lock:
        found = _registered.get(registry)
        if found is None:
            found = (
                Counter(
                    "housekeeping_rows_deleted",
                    "Rows deleted by a housekeeping chore.",
                    ["job"],
                    registry=registry,
                ),
                Gauge(
                    "housekeeping_last_success_timestamp_seconds",
                    "When a housekeeping chore last succeeded (Unix time).",
                    ["job"],
                    registry=registry,
                ),
            )
            _registered[registry] = found
        return found
