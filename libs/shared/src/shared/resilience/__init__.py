"""Resilience for IO: deadlines, circuit breakers and retries of transient errors.

All three speak ``shared.errors``: timeouts raise ``OperationTimeoutError``, an open breaker
raises ``DependencyUnavailableError``, and retries retry only what ``is_transient`` accepts.
"""

from shared.resilience.breaker import AsyncCircuitBreaker, BreakerState
from shared.resilience.retry import RECONNECT, RetryPolicy, retry_transient, run_with_retry
from shared.resilience.timeouts import deadline, with_timeout

__all__ = [
    "RECONNECT",
    "AsyncCircuitBreaker",
    "BreakerState",
    "RetryPolicy",
    "deadline",
    "retry_transient",
    "run_with_retry",
    "with_timeout",
]
