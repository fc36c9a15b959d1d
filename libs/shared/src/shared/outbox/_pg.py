"""Dedicated asyncpg connections for the relay, and the backoff between reconnections."""

from __future__ import annotations

import asyncio
import random
from typing import Any, TypeAlias

import asyncpg

from shared.settings import DatabaseSettings

__all__ = ["Backoff", "PgConnection", "close_quietly", "connect", "record_error", "sleep_or_stop"]


PgConnection: TypeAlias = asyncpg.Connection
"""A raw asyncpg connection (untyped upstream, hence the alias)."""


async def connect(
    settings: DatabaseSettings,
    *,
    application_name: str,
    timeout_s: float,
    extra_settings: dict[str, str] | None = None,
) -> asyncpg.Connection:
    """Open one connection outside any pool (advisory locks and LISTEN live on a session).

    ``statement_timeout`` bounds every statement server-side; ``timeout_s`` (asyncpg's
    command timeout) bounds it client-side too, so a half-open socket cannot hang the relay.
    """
    server_settings = {
        "application_name": application_name,
        "statement_timeout": str(int(timeout_s * 1000)),
        "idle_in_transaction_session_timeout": "60000",
        "timezone": "UTC",
        **(extra_settings or {}),
    }
    conn: asyncpg.Connection = await asyncpg.connect(
        dsn=settings.dsn(),
        timeout=settings.connect_timeout_s,
        command_timeout=timeout_s + 1.0,
        server_settings=server_settings,
    )
    return conn


async def close_quietly(conn: asyncpg.Connection | None, timeout_s: float = 2.0) -> None:
    """Close ``conn`` gracefully within ``timeout_s``, else drop the socket; never raise."""
    if conn is None or conn.is_closed():
        return
    try:
        await conn.close(timeout=timeout_s)
    except Exception:
        conn.terminate()


class Backoff:
    """Capped exponential backoff with jitter, reset after a success."""

    def __init__(self, initial_s: float, max_s: float) -> None:
        """Start at ``initial_s`` and double up to ``max_s``."""
        self._initial = initial_s
        self._max = max_s
        self._failures = 0

    def reset(self) -> None:
        """Forget past failures."""
        self._failures = 0

    def next_delay(self) -> float:
        """Count a failure and return how long to wait before the next try."""
        self._failures += 1
        ceiling = min(self._max, self._initial * 2 ** min(self._failures - 1, 30))
        # Jitter spreads replicas that failed together (a database restart) over the window.
        return float(ceiling * random.uniform(0.5, 1.0))  # noqa: S311  # nosec B311

    @property
    def failures(self) -> int:
        """Failures since the last reset."""
        return self._failures


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; return True at once if ``stop`` is set meanwhile."""
    try:
        async with asyncio.timeout(max(seconds, 0)):
            await stop.wait()
    except TimeoutError:
        return False
    return True


def record_error(error: BaseException) -> dict[str, Any]:
    """A log-safe summary of an error (type and message, no traceback)."""
    return {"error_type": type(error).__name__, "error": str(error)[:500]}
