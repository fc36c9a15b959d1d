"""PeriodicJob: runs at once and every interval, survives failures, counts and logs each run,
and stops cleanly (a hanging run is cancelled after the stop timeout)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from shared.observability.metrics import Metrics
from shared.periodic import PeriodicJob

JOB = "test.purge_things"


async def eventually(condition: Callable[[], bool], timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


def runs_of(metrics: Metrics, outcome: str) -> float:
    sample = metrics.registry.get_sample_value("jobs_total", {"job": JOB, "outcome": outcome})
    return sample or 0.0


async def test_it_runs_at_once_then_every_interval_counting_and_logging_each_run(
    metrics: Metrics, logs
) -> None:
    counts = iter(range(100))

    async def purge() -> int:
        return next(counts)

    job = PeriodicJob(JOB, purge, interval_s=0.01, metrics=metrics)
    job.start()
    assert job.running
    await eventually(lambda: job.runs >= 3)
    await job.close()
    assert not job.running
    assert runs_of(metrics, "succeeded") == job.runs
    assert runs_of(metrics, "failed") == runs_of(metrics, "cancelled") == 0
    lines = logs.events("job_succeeded")
    assert [line["count"] for line in lines] == list(range(job.runs))
    assert {line["job"] for line in lines} == {JOB}
    # Nothing handled is routine: that run logs at DEBUG, the others at INFO.
    assert [line["level"] for line in lines] == ["debug"] + ["info"] * (job.runs - 1)


async def test_a_failed_run_is_counted_and_logged_and_the_next_one_still_happens(
    metrics: Metrics, logs
) -> None:
    calls = 0

    async def flaky() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("database down")
        return 7

    job = PeriodicJob(JOB, flaky, interval_s=0.01, metrics=metrics)
    job.start()
    await eventually(lambda: runs_of(metrics, "succeeded") >= 1)
    await job.close()
    assert runs_of(metrics, "failed") == 1
    [failed] = logs.events("job_failed")
    assert failed["job"] == JOB
    assert failed["exception"][0]["exc_value"] == "database down"
    assert logs.events("job_succeeded")[0]["count"] == 7


async def test_close_lets_the_run_in_progress_finish(metrics: Metrics) -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow() -> int:
        started.set()
        await asyncio.sleep(0.05)
        finished.set()
        return 1

    job = PeriodicJob(JOB, slow, interval_s=3600, metrics=metrics)
    job.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await job.close()
    assert finished.is_set()
    assert not job.running
    assert (runs_of(metrics, "succeeded"), runs_of(metrics, "cancelled")) == (1, 0)


async def test_close_cancels_a_run_that_outlasts_the_stop_timeout(metrics: Metrics, logs) -> None:
    started = asyncio.Event()

    async def hangs() -> int:
        started.set()
        await asyncio.Event().wait()
        return 0

    job = PeriodicJob(JOB, hangs, interval_s=3600, metrics=metrics, stop_timeout_s=0.05)
    job.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await asyncio.wait_for(job.close(), timeout=5)
    assert not job.running
    assert runs_of(metrics, "cancelled") == 1
    assert job.runs == 0
    assert [line["job"] for line in logs.events("job_cancelled")] == [JOB]


async def test_run_in_the_callers_task_returns_on_stop_without_waiting_the_interval(
    metrics: Metrics,
) -> None:
    async def purge() -> int:
        return 0

    job = PeriodicJob(JOB, purge, interval_s=3600, metrics=metrics)
    loop = asyncio.create_task(job.run())
    await eventually(lambda: job.runs == 1)
    job.stop()
    await asyncio.wait_for(loop, timeout=5)
    assert job.runs == 1


async def test_it_refuses_a_second_start_and_a_non_positive_interval(metrics: Metrics) -> None:
    async def purge() -> int:
        return 0

    with pytest.raises(ValueError, match="interval_s"):
        PeriodicJob(JOB, purge, interval_s=0, metrics=metrics)
    never_started = PeriodicJob(JOB, purge, interval_s=3600, metrics=metrics)
    await never_started.close()  # nothing to wait for
    assert never_started.runs == 0
    job = PeriodicJob(JOB, purge, interval_s=3600, metrics=metrics)
    job.start()
    with pytest.raises(RuntimeError, match="already started"):
        job.start()
    await job.close()
