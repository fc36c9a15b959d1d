from __future__ import annotations

import asyncio
import traceback
from typing import Any

import pytest

from shared.errors import DependencyUnavailableError, NotFoundError
from shared.observability import Metrics
from shared.resilience import AsyncCircuitBreaker, BreakerState


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ProviderDownError(ConnectionError):
    pass


class Dependency:
    """A fake remote call that fails while ``down`` and counts the calls it received."""

    def __init__(self) -> None:
        self.down = False
        self.calls = 0

    async def __call__(self, value: int = 1) -> int:
        self.calls += 1
        if self.down:
            raise ProviderDownError("connection refused")
        return value


@pytest.fixture
def clock() -> FakeMonotonic:
    return FakeMonotonic()


@pytest.fixture
def breaker(metrics: Metrics, clock: FakeMonotonic) -> AsyncCircuitBreaker:
    return AsyncCircuitBreaker(
        "payments", fail_max=3, reset_timeout_s=30, metrics=metrics, monotonic=clock
    )


async def _fail(breaker: AsyncCircuitBreaker, dependency: Dependency, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ProviderDownError):
            await breaker.call(dependency)


def _gauge(metrics: Metrics) -> float | None:
    return metrics.registry.get_sample_value("breaker_state", {"name": "payments"})


async def test_calls_pass_through_while_closed(breaker: AsyncCircuitBreaker) -> None:
    dependency = Dependency()

    assert await breaker.call(dependency, 7) == 7
    assert breaker.state is BreakerState.CLOSED


async def test_it_opens_after_fail_max_failures_and_fails_fast(
    breaker: AsyncCircuitBreaker, metrics: Metrics
) -> None:
    dependency = Dependency()
    dependency.down = True

    await _fail(breaker, dependency, 2)
    assert breaker.state is BreakerState.CLOSED
    await _fail(breaker, dependency, 1)  # the third failure trips it, raising the real error
    assert breaker.state is BreakerState.OPEN

    with pytest.raises(DependencyUnavailableError) as caught:
        await breaker.call(dependency)
    assert dependency.calls == 3  # the open circuit did not call the dependency
    assert caught.value.code == "dependency.circuit_open"
    assert caught.value.details == {"dependency": "payments", "retry_after_s": 30.0}
    assert _gauge(metrics) == 2


async def test_a_success_resets_the_failure_count(breaker: AsyncCircuitBreaker) -> None:
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 2)
    dependency.down = False
    await breaker.call(dependency)
    dependency.down = True
    await _fail(breaker, dependency, 2)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.fail_counter == 2


async def test_half_open_after_the_reset_timeout_then_closed_on_success(
    breaker: AsyncCircuitBreaker, clock: FakeMonotonic, metrics: Metrics
) -> None:
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 3)

    clock.now += 29.9
    with pytest.raises(DependencyUnavailableError):
        await breaker.call(dependency)

    clock.now += 0.2
    dependency.down = False
    assert await breaker.call(dependency, 5) == 5  # the trial call
    assert breaker.state is BreakerState.CLOSED
    assert breaker.fail_counter == 0
    assert _gauge(metrics) == 0
    transitions = [
        ("closed", "open"),
        ("open", "half-open"),
        ("half-open", "closed"),
    ]
    for old, new in transitions:
        sample = metrics.registry.get_sample_value(
            "breaker_transitions_total", {"name": "payments", "from_state": old, "to_state": new}
        )
        assert sample == 1, (old, new)


async def test_a_failed_trial_reopens_the_circuit(
    breaker: AsyncCircuitBreaker, clock: FakeMonotonic
) -> None:
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 3)
    clock.now += 31

    await _fail(breaker, dependency, 1)

    assert breaker.state is BreakerState.OPEN
    with pytest.raises(DependencyUnavailableError):
        await breaker.call(dependency)  # a fresh cool-down started at the failed trial
    assert dependency.calls == 4


async def test_only_one_trial_runs_at_a_time(
    breaker: AsyncCircuitBreaker, clock: FakeMonotonic
) -> None:
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 3)
    clock.now += 31
    release = asyncio.Event()

    async def slow_trial() -> str:
        await release.wait()
        return "recovered"

    trial = asyncio.create_task(breaker.call(slow_trial))
    await asyncio.sleep(0)
    assert breaker.state is BreakerState.HALF_OPEN
    with pytest.raises(DependencyUnavailableError):
        await breaker.call(dependency)
    release.set()

    assert await trial == "recovered"
    assert breaker.state is BreakerState.CLOSED


async def test_permanent_app_errors_do_not_count(breaker: AsyncCircuitBreaker) -> None:
    async def missing() -> None:
        raise NotFoundError("no such payment")

    for _ in range(5):
        with pytest.raises(NotFoundError):
            await breaker.call(missing)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.fail_counter == 0


async def test_excluded_errors_do_not_count(metrics: Metrics) -> None:
    breaker = AsyncCircuitBreaker(
        "search", fail_max=1, exclude=[KeyError, lambda e: "declined" in str(e)], metrics=metrics
    )

    async def raise_(exc: Exception) -> None:
        raise exc

    with pytest.raises(KeyError):
        await breaker.call(raise_, KeyError("sku"))
    with pytest.raises(RuntimeError):
        await breaker.call(raise_, RuntimeError("card declined"))
    assert breaker.state is BreakerState.CLOSED

    with pytest.raises(RuntimeError):
        await breaker.call(raise_, RuntimeError("boom"))
    assert breaker.state is BreakerState.OPEN


@pytest.mark.parametrize("straggler_fails", [True, False])
async def test_a_call_that_began_before_the_trip_does_not_move_the_circuit(
    metrics: Metrics, straggler_fails: bool
) -> None:
    breaker = AsyncCircuitBreaker("payments", fail_max=3, reset_timeout_s=0.01, metrics=metrics)
    started = asyncio.Event()
    release = asyncio.Event()

    async def straggler() -> str:
        started.set()
        await release.wait()
        if straggler_fails:
            raise ProviderDownError("late")
        return "late success"

    task = asyncio.create_task(breaker.call(straggler))
    await started.wait()
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 3)
    await asyncio.sleep(0.02)  # past the cool-down: only a new call may start the trial
    release.set()

    if straggler_fails:
        with pytest.raises(ProviderDownError):
            await task
    else:
        assert await task == "late success"
    assert breaker.state is BreakerState.OPEN


async def test_the_callers_traceback_is_not_polluted(breaker: AsyncCircuitBreaker) -> None:
    dependency = Dependency()
    dependency.down = True

    with pytest.raises(ProviderDownError) as caught:
        await breaker.call(dependency)

    frames = traceback.extract_tb(caught.value.__traceback__)
    assert not any("pybreaker" in frame.filename for frame in frames)


async def test_transitions_are_logged(
    breaker: AsyncCircuitBreaker, clock: FakeMonotonic, logs: Any
) -> None:
    dependency = Dependency()
    dependency.down = True
    await _fail(breaker, dependency, 3)

    [line] = logs.events("circuit_breaker_state_changed")
    assert line["level"] == "warning"
    assert (line["breaker"], line["from_state"], line["to_state"]) == ("payments", "closed", "open")


def test_a_new_breaker_reports_closed(metrics: Metrics) -> None:
    AsyncCircuitBreaker("payments", metrics=metrics)

    assert _gauge(metrics) == 0
