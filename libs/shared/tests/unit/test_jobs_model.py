"""shared.jobs without IO: percent complete, backoff, a run's stop points."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import FrozenClock
from shared.jobs import (
    Backoff,
    Job,
    JobCancelledError,
    JobLease,
    JobRun,
    JobState,
    JobStoppedError,
)

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def job(**changes: object) -> Job:
    base = Job(
        id=uuid.uuid4(),
        kind="test.kind",
        org_id=None,
        state=JobState.RUNNING,
        params={},
        total=200,
        done=50,
        checkpoint=None,
        result=None,
        error=None,
        attempts=1,
        max_attempts=5,
        cancel_requested=False,
        created_by=None,
        created_at=NOW,
        updated_at=NOW,
        run_after=NOW,
        heartbeat_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_percent_follows_done_of_total() -> None:
    assert job().percent == 25
    assert job(done=0).percent == 0
    assert job(total=None).percent == 0
    assert job(total=0).percent == 0


def test_percent_reaches_100_only_when_succeeded() -> None:
    assert job(done=200).percent == 99
    assert job(done=200, state=JobState.SUCCEEDED).percent == 100
    assert job(total=None, state=JobState.SUCCEEDED).percent == 100


def test_heartbeat_age_of_a_running_job_only() -> None:
    later = NOW + timedelta(seconds=42)
    assert job().heartbeat_age_s(later) == 42.0
    assert job(state=JobState.QUEUED).heartbeat_age_s(later) is None


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 10, 30])
def test_backoff_doubles_with_jitter_and_is_capped(attempt: int) -> None:
    backoff = Backoff(base_s=2.0, cap_s=60.0)
    ceiling = min(60.0, 2.0 * 2 ** (attempt - 1))
    for _ in range(50):
        delay = backoff.delay(attempt).total_seconds()
        assert ceiling / 2 <= delay <= ceiling


def test_backoff_grows() -> None:
    backoff = Backoff(base_s=1.0, cap_s=1000.0)
    assert backoff.delay(5).total_seconds() >= backoff.delay(1).total_seconds() * 4


def run_of(current: Job) -> JobRun:
    return JobRun(
        job=current,
        lease=JobLease(current.id, "me"),
        clock=FrozenClock(NOW),
        lease_for=timedelta(seconds=30),
    )


def test_stop_if_asked_raises_cancelled_with_the_result_so_far() -> None:
    run = run_of(job())
    run.stop_if_asked({"applied": 1})  # nothing asked: goes on
    run.cancel_requested = True
    with pytest.raises(JobCancelledError) as raised:
        run.stop_if_asked({"applied": 3})
    assert raised.value.result == {"applied": 3}


def test_stop_if_asked_raises_stopped_when_the_worker_stops() -> None:
    run = run_of(job())
    run.stopping = True
    assert run.should_stop
    with pytest.raises(JobStoppedError):
        run.stop_if_asked()
