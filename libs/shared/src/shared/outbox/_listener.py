"""LISTEN for post-commit doorbells on a dedicated connection, reconnecting for ever.

A process that waits for work other processes commit (a relay, a worker over a queue table)
pairs this with a :class:`~shared.outbox.PgNotifyDoorbell` rung by the writers on the same
channel, and with polling: the listener only shortens the wait. It calls ``on_notify`` for
every notification and once after each (re)connection, since anything sent while it was not
listening is lost; a lost connection is reopened with jittered backoff, and the idle
connection is probed so a half-open socket cannot swallow notifications unnoticed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from shared.outbox._pg import (
    Backoff,
    PgConnection,
    close_quietly,
    connect,
    record_error,
    sleep_or_stop,
)
from shared.settings import DatabaseSettings

__all__ = ["PgListener"]

log = structlog.get_logger(__name__)


class PgListener:
    """Calls ``on_notify`` for every NOTIFY on ``channel`` (and once after each (re)connect).

    Run it beside the loop it wakes (``await listener.run(stop)``); that loop keeps polling at
    its own interval, which covers every notification lost while reconnecting.

    Args:
        database: where to connect (one connection of its own, outside any pool).
        channel: the LISTEN channel (the doorbell's ``channel``).
        on_notify: what a notification does, e.g. ``RelayWakeup.ring``; must not block.
        application_name: the connection's name in ``pg_stat_activity``.
        probe_interval_s: how often the idle connection is checked.
        timeout_s: the deadline of each statement (LISTEN, the probe).
        backoff_initial_s: the first wait before reconnecting; it doubles with each failure
            in a row, jittered, up to ``backoff_max_s``.

    Attributes:
        listening: set while the LISTEN is in place (tests wait on it).
        notifications: how many notifications arrived.
    """

    def __init__(
        self,
        database: DatabaseSettings,
        channel: str,
        on_notify: Callable[[], None],
        *,
        application_name: str = "ordo-listen",
        probe_interval_s: float = 5.0,
        timeout_s: float = 5.0,
        backoff_initial_s: float = 0.2,
        backoff_max_s: float = 5.0,
    ) -> None:
        self.channel = channel
        self._database = database
        self._on_notify = on_notify
        self._application_name = application_name
        self._probe_interval_s = probe_interval_s
        self._timeout_s = timeout_s
        self._backoff = Backoff(backoff_initial_s, backoff_max_s)
        self.listening = asyncio.Event()
        self.notifications = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        while not stop.is_set():
            conn: PgConnection | None = None
            failed = False
            try:
                conn = await connect(
                    self._database,
                    application_name=self._application_name,
                    timeout_s=self._timeout_s,
                )
                await conn.add_listener(self.channel, self._notified)
                self._backoff.reset()
                self.listening.set()
                self._on_notify()  # catch up on what was committed while not listening
                while not await sleep_or_stop(stop, self._probe_interval_s):
                    await conn.fetchval("SELECT 1", timeout=self._timeout_s)
            except Exception as error:
                failed = True
                log.warning("outbox.listener.failed", channel=self.channel, **record_error(error))
            finally:
                self.listening.clear()
                await close_quietly(conn, self._timeout_s)
            if failed and not stop.is_set():
                await sleep_or_stop(stop, self._backoff.next_delay())

    def _notified(self, *_: object) -> None:
        self.notifications += 1
        self._on_notify()
