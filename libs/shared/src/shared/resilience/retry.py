"""Retries of transient failures: capped exponential backoff with full jitter (tenacity).

Only what :func:`shared.errors.is_transient` accepts is retried (deadlocks, serialization
failures, dropped connections, timeouts, ...); a validation error or a bug fails at once.
Jitter spreads the retries of many callers that failed together, so a recovering dependency is
not hit by a synchronized wave. After the last attempt the original exception is raised, never
a ``RetryError``, so callers and adapters keep seeing the ``shared.errors`` tree.

Retry only idempotent work: a unit of work whose transaction rolled back, a GET, a call with an
idempotency key. :data:`RECONNECT` re-runs a use case once, at once, when its pooled database
connection was found dead before it could commit (the engine does not ping connections).
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import structlog
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)
from tenacity.stop import stop_base

from shared.errors import AppError, is_lost_connection, is_transient

__all__ = ["RECONNECT", "RetryPolicy", "Sleep", "retry_transient", "run_with_retry"]

P = ParamSpec("P")
T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How hard to retry.

    Attributes:
        attempts: total tries, the first included (1 disables retrying).
        initial_delay_s: the backoff window after the first failure; it doubles every retry.
        max_delay_s: the cap of any single wait.
        max_elapsed_s: stop once this much time has passed since the first try (None: no cap).
        retry_if: which exceptions to retry; :func:`is_transient` by default.
    """

    attempts: int = 5
    initial_delay_s: float = 0.05
    max_delay_s: float = 2.0
    max_elapsed_s: float | None = None
    retry_if: Callable[[BaseException], bool] = is_transient

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("RetryPolicy.attempts must be at least 1")
        if self.initial_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("RetryPolicy delays must not be negative")

    def retrying(self, *, operation: str, sleep: Sleep | None = None) -> AsyncRetrying:
        """Return a tenacity ``AsyncRetrying`` for this policy that logs every retry."""
        stop: stop_base = stop_after_attempt(self.attempts)
        if self.max_elapsed_s is not None:
            stop = stop | stop_after_delay(self.max_elapsed_s)
        extra: dict[str, Any] = {"sleep": sleep} if sleep is not None else {}
        return AsyncRetrying(
            stop=stop,
            wait=wait_random_exponential(multiplier=self.initial_delay_s, max=self.max_delay_s),
            retry=retry_if_exception(self.retry_if),
            before_sleep=functools.partial(_log_retry, operation, self.attempts),
            reraise=True,
            **extra,
        )


DEFAULT_POLICY = RetryPolicy()
RECONNECT = RetryPolicy(
    attempts=2, initial_delay_s=0.0, max_delay_s=0.0, retry_if=is_lost_connection
)
"""Once more, at once, on a fresh connection: for a use case whose only effects are in its
transaction, when the pooled connection under it was dead (see ``shared.errors``)."""


def _log_retry(operation: str, attempts: int, state: RetryCallState) -> None:
    exc = state.outcome.exception() if state.outcome is not None else None
    wait_s = state.next_action.sleep if state.next_action is not None else 0.0
    log.warning(
        "retrying",
        operation=operation,
        attempt=state.attempt_number,
        max_attempts=attempts,
        wait_s=round(wait_s, 3),
        error=type(exc).__name__ if exc is not None else None,
        code=exc.code if isinstance(exc, AppError) else None,
    )


async def run_with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy = DEFAULT_POLICY,
    operation: str | None = None,
    sleep: Sleep | None = None,
) -> T:
    """Await ``fn()`` until it succeeds, fails permanently, or the policy gives up.

    Args:
        fn: a zero-argument callable returning a fresh awaitable on every call (a coroutine
            can be awaited only once), e.g. ``lambda: repo.get(order_id)``.
        policy: attempts, backoff and what to retry.
        operation: a short name for logs; defaults to ``fn``'s qualified name.
        sleep: replaces ``asyncio.sleep`` (tests).

    Raises:
        Exception: the last exception ``fn`` raised.
    """
    name = operation or str(getattr(fn, "__qualname__", "operation"))
    async for attempt in policy.retrying(operation=name, sleep=sleep):
        with attempt:
            return await fn()
    raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover


def retry_transient(
    policy: RetryPolicy = DEFAULT_POLICY,
    *,
    operation: str | None = None,
    sleep: Sleep | None = None,
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Decorate an async function so transient failures are retried under ``policy``.

    Example::

        @retry_transient(RetryPolicy(attempts=3), operation="orders.place")
        async def place(cmd: PlaceOrder) -> OrderId: ...
    """

    def decorate(fn: Callable[P, Awaitable[T]]) -> Callable[P, Coroutine[Any, Any, T]]:
        name = operation or str(getattr(fn, "__qualname__", "operation"))

        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            return await run_with_retry(
                lambda: fn(*args, **kwargs), policy=policy, operation=name, sleep=sleep
            )

        return wrapper

    return decorate
