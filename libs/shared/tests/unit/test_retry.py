from __future__ import annotations

from typing import Any

import pytest
from tenacity import RetryError

from shared.errors import NotFoundError, OperationTimeoutError
from shared.resilience import RetryPolicy, retry_transient, run_with_retry


class Flaky:
    """Fails with ``error`` for the first ``failures`` calls, then returns ``"done"``."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.error = error or ConnectionResetError("reset by peer")
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "done"


class RecordingSleep:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


FAST = RetryPolicy(attempts=4, initial_delay_s=0.1, max_delay_s=0.25)


async def test_transient_failures_are_retried_until_success() -> None:
    flaky, sleep = Flaky(failures=3), RecordingSleep()

    assert await run_with_retry(flaky, policy=FAST, sleep=sleep) == "done"
    assert flaky.calls == 4
    assert len(sleep.waits) == 3


async def test_waits_are_jittered_and_capped() -> None:
    sleep = RecordingSleep()
    policy = RetryPolicy(attempts=8, initial_delay_s=0.1, max_delay_s=0.25)

    await run_with_retry(Flaky(failures=7), policy=policy, sleep=sleep)

    windows = [min(0.1 * 2**n, 0.25) for n in range(7)]
    assert all(0 <= wait <= window for wait, window in zip(sleep.waits, windows, strict=True))
    assert len(set(sleep.waits)) > 1  # jitter, not a fixed schedule


async def test_permanent_failures_are_not_retried() -> None:
    flaky = Flaky(failures=5, error=NotFoundError("gone"))

    with pytest.raises(NotFoundError):
        await run_with_retry(flaky, policy=FAST, sleep=RecordingSleep())
    assert flaky.calls == 1


async def test_the_last_original_error_is_raised_when_giving_up() -> None:
    flaky = Flaky(failures=10, error=OperationTimeoutError("db.query timed out"))

    with pytest.raises(OperationTimeoutError, match="db.query timed out") as caught:
        await run_with_retry(flaky, policy=FAST, sleep=RecordingSleep())
    assert not isinstance(caught.value, RetryError)
    assert flaky.calls == 4


async def test_max_elapsed_stops_early() -> None:
    flaky = Flaky(failures=10)
    policy = RetryPolicy(attempts=100, initial_delay_s=0.001, max_delay_s=0.001, max_elapsed_s=0)

    with pytest.raises(ConnectionResetError):
        await run_with_retry(flaky, policy=policy)
    assert flaky.calls == 1


async def test_a_custom_predicate_decides_what_is_retried() -> None:
    flaky = Flaky(failures=1, error=ValueError("odd"))
    policy = RetryPolicy(
        attempts=3, initial_delay_s=0, retry_if=lambda e: isinstance(e, ValueError)
    )

    assert await run_with_retry(flaky, policy=policy, sleep=RecordingSleep()) == "done"


async def test_each_retry_is_logged(logs: Any) -> None:
    await run_with_retry(
        Flaky(failures=2), policy=FAST, operation="orders.place", sleep=RecordingSleep()
    )

    lines = logs.events("retrying")
    assert [line["attempt"] for line in lines] == [1, 2]
    assert {line["operation"] for line in lines} == {"orders.place"}
    assert {line["error"] for line in lines} == {"ConnectionResetError"}
    assert all(line["level"] == "warning" and line["max_attempts"] == 4 for line in lines)


async def test_the_decorator_retries_with_the_arguments() -> None:
    calls: list[tuple[int, str]] = []
    sleep = RecordingSleep()

    @retry_transient(FAST, sleep=sleep)
    async def fetch(order_id: int, *, tenant: str) -> str:
        calls.append((order_id, tenant))
        if len(calls) < 3:
            raise ConnectionResetError
        return f"{tenant}/{order_id}"

    assert await fetch(7, tenant="acme") == "acme/7"
    assert calls == [(7, "acme")] * 3
    assert fetch.__name__ == "fetch"


@pytest.mark.parametrize(
    "kwargs", [{"attempts": 0}, {"initial_delay_s": -1.0}, {"max_delay_s": -1.0}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)
