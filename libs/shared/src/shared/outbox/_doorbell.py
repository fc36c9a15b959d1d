"""Waking relays in other processes after a commit, without NOTIFY in the business transaction.

A ``pg_notify`` inside the writing transaction makes PostgreSQL take a cluster-wide lock at
commit and hold it across the commit's WAL flush, so every notifying writer commits one after
the other: the benchmark (docs/benchmarks.md) measured 8 writers falling to ~40% of their
throughput. This doorbell sends the notification after the commit instead, on a connection of
its own, in a transaction that writes nothing (no WAL flush while the lock is held), and at most
once per ``min_interval_s`` per process (the first ring at once, the rest coalesced into one at
the end of the interval). A lost notification costs latency only: the relay also polls.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import Protocol

import structlog
from sqlalchemy import Table

from shared.outbox._pg import PgConnection, close_quietly, connect, record_error
from shared.outbox._schema import DEFAULT_TABLE, OutboxNames
from shared.settings import DatabaseSettings

__all__ = ["Doorbell", "PgNotifyDoorbell"]

log = structlog.get_logger(__name__)


class Doorbell(Protocol):
    """Something the unit of work rings after a commit that wrote outbox rows."""

    def ring(self, lanes: Collection[int] | None = None) -> None:
        """Signal that rows of ``lanes`` (None: unknown) were committed; never blocks or raises."""
        ...


class PgNotifyDoorbell:
    """Rings the relays of one outbox table with a debounced, post-commit ``pg_notify``.

    Any other process that waits for committed work (a worker over a queue table) can be rung
    the same way on a channel of its own: pass ``channel`` and LISTEN on it with
    :class:`~shared.outbox.PgListener`.

    Args:
        database: the service's database (one dedicated connection is opened lazily).
        table: the outbox table (or its name) whose relays LISTEN.
        channel: the channel to notify instead of the outbox table's.
        min_interval_s: at most one notification per interval from this process.
        timeout_s: the budget of one notification.
    """

    def __init__(
        self,
        database: DatabaseSettings,
        table: Table | str = DEFAULT_TABLE,
        *,
        channel: str | None = None,
        min_interval_s: float = 0.002,
        timeout_s: float = 2.0,
        application_name: str = "ordo-outbox-doorbell",
    ) -> None:
        self.channel = channel if channel is not None else _outbox_names(table).channel
        self._database = database
        self._min_interval_s = min_interval_s
        self._timeout_s = timeout_s
        self._application_name = application_name
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._conn: PgConnection | None = None
        self.sent = 0

    def ring(self, lanes: Collection[int] | None = None) -> None:
        """Ask for a notification; the first one goes out at once, the rest are coalesced.

        ``lanes`` are not sent: a NOTIFY wakes every loop of the listening relays.
        """
        self._pending.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._sender(), name="outbox-doorbell"
            )

    async def close(self) -> None:
        """Stop the sender and close its connection."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        conn, self._conn = self._conn, None
        await close_quietly(conn)

    async def _sender(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            await self._notify()
            await asyncio.sleep(self._min_interval_s)
            if not self._pending.is_set():
                return  # idle: the next ring starts a new sender and notifies at once

    async def _notify(self) -> None:
        try:
            if self._conn is None or self._conn.is_closed():
                self._conn = await connect(
                    self._database,
                    application_name=self._application_name,
                    timeout_s=self._timeout_s,
                )
            await self._conn.execute(
                "SELECT pg_notify($1, '')", self.channel, timeout=self._timeout_s
            )
            self.sent += 1
        except Exception as error:
            # Only latency is lost: the relay polls. Drop the connection and try next time.
            log.warning("outbox.doorbell.failed", **record_error(error))
            conn, self._conn = self._conn, None
            await close_quietly(conn)


def _outbox_names(table: Table | str) -> OutboxNames:
    if isinstance(table, Table):
        return OutboxNames(table.name, table.schema)
    return OutboxNames(table)
