"""An asyncio circuit breaker on top of pybreaker's state machine.

pybreaker only awaits through tornado, so :class:`AsyncCircuitBreaker` drives it around the
awaited call instead: before the call it decides admission itself (closed: pass; open: fail fast
until ``reset_timeout_s`` has passed, then move to half-open; half-open: one trial call at a
time); after the call it replays the outcome through ``CircuitBreaker.call`` with a synchronous
function that returns or raises it, so pybreaker's own counters, exclusions, thresholds and
listeners decide the transitions.

While open, calls fail with :class:`shared.errors.DependencyUnavailableError` (code
``dependency.circuit_open``). Every transition sets the ``breaker_state`` gauge, counts in
``breaker_transitions_total`` and writes one structured log line.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import StrEnum
from typing import Any, ParamSpec, TypeVar

import pybreaker
import structlog

from shared.errors import AppError, DependencyUnavailableError
from shared.observability.metrics import Metrics, default_metrics

__all__ = ["CIRCUIT_OPEN_CODE", "AsyncCircuitBreaker", "BreakerState"]

P = ParamSpec("P")
T = TypeVar("T")
Exclusion = type[BaseException] | Callable[[BaseException], bool]

CIRCUIT_OPEN_CODE = "dependency.circuit_open"

log = structlog.get_logger(__name__)


class BreakerState(StrEnum):
    """The breaker's states; the value is pybreaker's state name."""

    CLOSED = pybreaker.STATE_CLOSED
    HALF_OPEN = pybreaker.STATE_HALF_OPEN
    OPEN = pybreaker.STATE_OPEN

    @property
    def gauge_value(self) -> int:
        """The ``breaker_state`` gauge value: 0 closed, 1 half-open, 2 open."""
        return {"closed": 0, "half-open": 1, "open": 2}[self.value]


def _is_permanent_app_error(exc: BaseException) -> bool:
    # "Not found" or "invalid" came back from a dependency that is up and answering.
    return isinstance(exc, AppError) and not exc.transient


class _Listener(pybreaker.CircuitBreakerListener):
    def __init__(self, owner: AsyncCircuitBreaker) -> None:
        self._owner = owner

    def state_change(
        self,
        cb: pybreaker.CircuitBreaker,
        old_state: pybreaker.CircuitBreakerState | None,
        new_state: pybreaker.CircuitBreakerState,
    ) -> None:
        self._owner._on_transition(old_state.name if old_state else None, new_state.name)


class AsyncCircuitBreaker:
    """Fail fast while a dependency is failing; probe it again after a cool-down.

    Args:
        name: the dependency's name, used in metrics, logs and errors (``"payments-provider"``).
        fail_max: consecutive counted failures that open the circuit.
        reset_timeout_s: how long the circuit stays open before one trial call is let through.
        exclude: exception types or predicates that do not count as failures (they reset the
            count, like a success). Permanent ``AppError``s (not found, validation, ...) are
            always excluded: the dependency answered.
        metrics: where the state gauge and transitions go; the process default if None.
        monotonic: the time source for the cool-down (tests pass a fake).
    """

    def __init__(
        self,
        name: str,
        *,
        fail_max: int = 5,
        reset_timeout_s: float = 30.0,
        exclude: Iterable[Exclusion] = (),
        metrics: Metrics | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.reset_timeout_s = reset_timeout_s
        self._metrics = metrics if metrics is not None else default_metrics()
        self._monotonic = monotonic
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._breaker = pybreaker.CircuitBreaker(
            fail_max=fail_max,
            reset_timeout=reset_timeout_s,
            exclude=[_is_permanent_app_error, *exclude],
            listeners=[_Listener(self)],
            name=name,
            # Re-raise the caller's own error on the tripping call, not pybreaker's.
            throw_new_error_on_trip=False,
        )
        self._metrics.breaker_state.labels(name=name).set(BreakerState.CLOSED.gauge_value)

    @property
    def state(self) -> BreakerState:
        """The current state."""
        return BreakerState(self._breaker.current_state)

    @property
    def fail_counter(self) -> int:
        """Consecutive counted failures so far."""
        return int(self._breaker.fail_counter)

    async def call(self, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs) -> T:
        """Await ``fn(*args, **kwargs)`` through the breaker and return its result.

        Raises:
            DependencyUnavailableError: the circuit is open (or half-open with a trial running).
            Exception: whatever ``fn`` raised, after it was counted.
        """
        trial = self._admit()
        try:
            result = await fn(*args, **kwargs)
        except Exception as exc:
            self._report(exc)
            raise
        else:
            self._report(None)
            return result
        finally:
            if trial:
                self._trial_in_flight = False

    def _admit(self) -> bool:
        """Let the call through or raise; return True if it is the half-open trial call."""
        if self.state is BreakerState.OPEN:
            remaining = self.reset_timeout_s - (self._monotonic() - self._opened_at)
            if remaining > 0:
                raise self._open_error(remaining)
            self._breaker.half_open()
        if self.state is BreakerState.HALF_OPEN:
            if self._trial_in_flight:
                raise self._open_error(None)
            self._trial_in_flight = True
            return True
        return False

    def _report(self, exc: Exception | None) -> None:
        """Feed one outcome to pybreaker's state machine."""
        if self.state is BreakerState.OPEN:
            return  # the call began before another one tripped the circuit: stale news
        traceback = exc.__traceback__ if exc is not None else None

        def replay() -> None:
            if exc is not None:
                raise exc

        try:
            # The outcome is the caller's to raise, not ours: pybreaker only counts it here.
            with contextlib.suppress(Exception):
                self._breaker.call(replay)
        finally:
            if exc is not None:
                # Raising through pybreaker appended its frames; keep the caller's trace clean.
                exc.__traceback__ = traceback

    def _open_error(self, remaining_s: float | None) -> DependencyUnavailableError:
        details: dict[str, Any] = {"dependency": self.name}
        if remaining_s is not None:
            details["retry_after_s"] = round(remaining_s, 3)
        return DependencyUnavailableError(
            f"{self.name} is unavailable (circuit open).", code=CIRCUIT_OPEN_CODE, details=details
        )

    def _on_transition(self, old: str | None, new: str) -> None:
        new_state = BreakerState(new)
        if new_state is BreakerState.OPEN:
            self._opened_at = self._monotonic()
        old_name = old or "none"
        self._metrics.breaker_state.labels(name=self.name).set(new_state.gauge_value)
        self._metrics.breaker_transitions_total.labels(
            name=self.name, from_state=old_name, to_state=new
        ).inc()
        emit = log.warning if new_state is BreakerState.OPEN else log.info
        emit(
            "circuit_breaker_state_changed",
            breaker=self.name,
            from_state=old_name,
            to_state=new,
            fail_counter=self.fail_counter,
        )
