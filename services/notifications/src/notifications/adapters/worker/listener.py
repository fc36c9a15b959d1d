"""LISTEN for the consumer's doorbell on a dedicated PostgreSQL connection.

The consumer rings (``pg_notify``, after its commit) when it scheduled deliveries; the listener
rings the worker's wakeup. A lost connection is reopened with jittered backoff; meanwhile, and
for any notification lost, the worker's polling covers (only latency is lost).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

import asyncpg
import structlog

from shared.settings import DatabaseSettings

__all__ = ["PgListener"]

log = structlog.get_logger(__name__)


class PgListener:
    """Calls ``on_notify`` for every NOTIFY on ``channel`` (and once after each (re)connect).

    Args:
        database: where to connect (one connection of its own, outside any pool).
        channel: the LISTEN channel.
        on_notify: must not block.
        check_interval_s: how often the connection is probed.
        timeout_s: the deadline of connecting and of each probe.
    """

    def __init__(
        self,
        database: DatabaseSettings,
        channel: str,
        on_notify: Callable[[], None],
        *,
        check_interval_s: float = 30.0,
        timeout_s: float = 5.0,
        application_name: str = "notifications-worker-listen",
    ) -> None:
        self.channel = channel
        self._database = database
        self._on_notify = on_notify
        self._check_interval_s = check_interval_s
        self._timeout_s = timeout_s
        self._application_name = application_name
        self.connected = asyncio.Event()

    def _notified(self, *_: object) -> None:
        self._on_notify()

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        failures = 0
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    dsn=self._database.dsn(),
                    timeout=self._timeout_s,
                    command_timeout=self._timeout_s,
                    server_settings={"application_name": self._application_name},
                )
                await conn.add_listener(self.channel, self._notified)
                self.connected.set()
                failures = 0
                self._on_notify()  # catch up on what was scheduled while not listening
                while not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._check_interval_s):
                            await stop.wait()
                    if not stop.is_set():
                        await conn.fetchval("SELECT 1", timeout=self._timeout_s)
            except Exception as error:
                failures += 1
                log.warning(
                    "notifications.listener.failed",
                    error_type=type(error).__name__,
                    error=str(error)[:200],
                )
            finally:
                self.connected.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), self._timeout_s)
            if not stop.is_set():
                delay = min(30.0, 0.2 * 2 ** min(failures, 8)) * random.uniform(0.5, 1.0)  # noqa: S311  # nosec B311
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await stop.wait()
