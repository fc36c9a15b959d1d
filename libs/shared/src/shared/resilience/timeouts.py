"""Deadlines for IO: every network or database call in the chassis goes through one of these.

A timeout surfaces as :class:`shared.errors.OperationTimeoutError`, an ``InfrastructureError``,
so retries, circuit breakers, the HTTP adapter (503) and the messaging adapter (retry) all treat
it as transient without knowing about ``asyncio``.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import TypeVar

from shared.errors import OperationTimeoutError

__all__ = ["deadline", "with_timeout"]

T = TypeVar("T")


@asynccontextmanager
async def deadline(seconds: float, *, operation: str = "operation") -> AsyncIterator[None]:
    """Cancel the enclosed block after ``seconds`` and raise ``OperationTimeoutError``.

    Args:
        seconds: the time budget, > 0.
        operation: a short, log-safe name for the work (``"postgres.query"``), used in the error.

    Raises:
        OperationTimeoutError: the budget ran out (the original ``TimeoutError`` is its cause).
        ValueError: ``seconds`` is not positive.
    """
    _check_seconds(seconds)
    scope = asyncio.timeout(seconds)
    try:
        async with scope:
            yield
    except TimeoutError as exc:
        # A TimeoutError raised inside the block by something else (a driver's own timeout)
        # is left alone, so the error names the deadline that actually fired.
        if not scope.expired():
            raise
        raise OperationTimeoutError(
            f"{operation} timed out after {seconds:g}s",
            details={"operation": operation, "timeout_s": seconds},
        ) from exc


async def with_timeout(
    awaitable: Awaitable[T], seconds: float, *, operation: str = "operation"
) -> T:
    """Await ``awaitable`` within ``seconds``; see :func:`deadline` for errors raised."""
    if not seconds > 0 and inspect.iscoroutine(awaitable):
        awaitable.close()  # never awaited: close it so Python does not warn about it
    async with deadline(seconds, operation=operation):
        return await awaitable


def _check_seconds(seconds: float) -> None:
    if not seconds > 0:
        raise ValueError(f"a deadline needs a positive number of seconds, got {seconds!r}")
