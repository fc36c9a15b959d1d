"""Waking the payment worker across processes: a post-commit NOTIFY and a LISTEN connection.

The consumer (a new payment, a cancel) rings the chassis' ``PgNotifyDoorbell`` after its commit
(never inside the transaction: see shared.outbox's doorbell), on a channel of the worker's own;
the worker's :class:`PgListener` turns each notification into a ring of its in-process
``RelayWakeup``. A lost notification (a dropped connection) costs only latency: the worker also
polls, and rings itself after every reconnection in case it missed one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random

import asyncpg
import structlog

from shared.outbox import OutboxNames, PgNotifyDoorbell, RelayWakeup
from shared.settings import DatabaseSettings

__all__ = ["WORKER_CHANNEL", "PgListener", "worker_doorbell"]

log = structlog.get_logger(__name__)

# The doorbell derives its channel from a table name; this one names the worker's queue.
_QUEUE = "payments_due"
WORKER_CHANNEL = OutboxNames(_QUEUE).channel


def worker_doorbell(database: DatabaseSettings, *, application_name: str) -> PgNotifyDoorbell:
    """The doorbell a unit of work rings after a commit that made a payment due now."""
    return PgNotifyDoorbell(database, _QUEUE, application_name=application_name)


class PgListener:
    """LISTENs on the worker's channel on a dedicated connection and rings ``wakeup``.

    Args:
        database: the service's database.
        wakeup: the worker's in-process doorbell.
        channel: the channel to LISTEN on.
        probe_interval_s: how often the idle connection is checked (a half-open socket would
            otherwise swallow notifications silently).
        timeout_s: the budget of connecting and of each probe.
        max_backoff_s: the cap of the jittered wait between reconnections.
    """

    def __init__(
        self,
        database: DatabaseSettings,
        wakeup: RelayWakeup,
        *,
        channel: str = WORKER_CHANNEL,
        application_name: str = "payments-worker-listen",
        probe_interval_s: float = 5.0,
        timeout_s: float = 5.0,
        max_backoff_s: float = 5.0,
    ) -> None:
        self._database = database
        self._wakeup = wakeup
        self._channel = channel
        self._application_name = application_name
        self._probe_interval_s = probe_interval_s
        self._timeout_s = timeout_s
        self._max_backoff_s = max_backoff_s
        self.listening = asyncio.Event()
        self.notifications = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set, reconnecting with jittered backoff."""
        failures = 0
        while not stop.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(
                    dsn=self._database.dsn(),
                    timeout=self._timeout_s,
                    server_settings={"application_name": self._application_name},
                )
                await conn.add_listener(self._channel, self._on_notify)
                failures = 0
                self.listening.set()
                self._wakeup.ring()  # notifications sent while we were away are lost
                while not await _wait(stop, self._probe_interval_s):
                    await conn.fetchval("SELECT 1", timeout=self._timeout_s)
            except Exception as error:
                failures += 1
                log.warning(
                    "payments.worker.listen_failed",
                    error_type=type(error).__name__,
                    error=str(error)[:300],
                )
            finally:
                self.listening.clear()
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), self._timeout_s)
            if failures and not stop.is_set():
                ceiling = min(self._max_backoff_s, 0.1 * 2 ** min(failures, 10))
                jittered = ceiling * random.uniform(0.5, 1.0)  # noqa: S311  # nosec B311
                await _wait(stop, jittered)

    def _on_notify(self, *_: object) -> None:
        self.notifications += 1
        self._wakeup.ring()


async def _wait(stop: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds``; True at once if ``stop`` is set meanwhile."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0)):
            await stop.wait()
    return stop.is_set()
