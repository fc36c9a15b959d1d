from __future__ import annotations

import asyncio
import gc
import warnings

import pytest

from shared.errors import OperationTimeoutError, is_transient
from shared.resilience import deadline, with_timeout


async def test_a_block_within_its_deadline_completes() -> None:
    async with deadline(1.0, operation="quick"):
        await asyncio.sleep(0)


async def test_an_overrun_raises_operation_timeout_error() -> None:
    with pytest.raises(OperationTimeoutError) as caught:
        async with deadline(0.01, operation="postgres.query"):
            await asyncio.sleep(1)

    error = caught.value
    assert error.code == "operation.timeout"
    assert error.message == "postgres.query timed out after 0.01s"
    assert error.details == {"operation": "postgres.query", "timeout_s": 0.01}
    assert isinstance(error.__cause__, TimeoutError)
    assert is_transient(error)


async def test_with_timeout_returns_the_result() -> None:
    async def answer() -> int:
        return 42

    assert await with_timeout(answer(), 1.0, operation="answer") == 42


async def test_with_timeout_raises_on_overrun() -> None:
    with pytest.raises(OperationTimeoutError, match="kafka.send timed out"):
        await with_timeout(asyncio.sleep(1), 0.01, operation="kafka.send")


async def test_a_timeout_error_from_inside_is_not_renamed() -> None:
    async def driver_timeout() -> None:
        raise TimeoutError("the driver's own timeout")

    with pytest.raises(TimeoutError, match="driver's own") as caught:
        await with_timeout(driver_timeout(), 5.0)

    assert not isinstance(caught.value, OperationTimeoutError)


@pytest.mark.parametrize("seconds", [0, -1.0, float("nan")])
async def test_a_deadline_must_be_positive(seconds: float) -> None:
    with pytest.raises(ValueError, match="positive"):
        async with deadline(seconds):
            pass


async def test_an_invalid_deadline_does_not_leak_an_unawaited_coroutine() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="positive"):
            await with_timeout(asyncio.sleep(0), 0)
        gc.collect()
