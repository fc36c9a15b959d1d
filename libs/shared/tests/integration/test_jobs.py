"""shared.jobs against the real PostgreSQL: progress, crash and resume, lease, cancel, retries.

The handler of these tests applies numbered steps in batches, each batch in one transaction
with its checkpoint; a unique key on (job, step) makes any double apply fail loudly.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.clock import FrozenClock
from shared.db import create_engine, create_session_factory
from shared.errors import InfrastructureError, ValidationError
from shared.ids import new_id
from shared.jobs import Backoff, Job, JobLease, JobLeaseLostError, JobRun, JobState
from shared.jobs.runner import JobHandler, JobRunner
from shared.jobs.sqla import SqlaJobRecords, jobs_table
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration

KIND = "test.count_steps"
suffix = uuid.uuid4().hex[:8]
metadata = MetaData()
jobs = jobs_table(metadata, name=f"jobs_{suffix}")
applied = Table(
    f"applied_{suffix}",
    metadata,
    Column("job_id", Uuid, primary_key=True),
    Column("step", Integer, primary_key=True),
)


@pytest.fixture(scope="module")
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="jobs-test")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics(CollectorRegistry())


def stepper(
    sessions: async_sessionmaker[AsyncSession],
    *,
    batch: int = 10,
    hold_after: int | None = None,
    held: asyncio.Event | None = None,
    fail_first: Exception | None = None,
) -> JobHandler:
    """Applies steps 0..total-1 in batches, checkpoint with each batch. ``hold_after``: after
    writing (not committing) that many steps of a batch, wait forever (a crash to simulate)."""
    failures = [fail_first] if fail_first is not None else []

    async def handle(run: JobRun) -> Mapping[str, Any]:
        if failures:
            raise failures.pop()
        total = run.job.total or 0
        position = int((run.checkpoint or {}).get("next", 0))
        while position < total:
            run.stop_if_asked({"applied": position})
            end = min(total, position + batch)
            async with sessions.begin() as session:
                for step in range(position, end):
                    await session.execute(insert(applied).values(job_id=run.job.id, step=step))
                    if hold_after is not None and step == hold_after:
                        if held is not None:
                            held.set()
                        await asyncio.Event().wait()
                await run.save_progress(
                    SqlaJobRecords(session, jobs), checkpoint={"next": end}, done=end
                )
            position = end
        return {"applied": position}

    return handle


def runner(
    sessions: async_sessionmaker[AsyncSession],
    handler: JobHandler,
    clock: FrozenClock,
    metrics: Metrics,
    **options: Any,
) -> JobRunner:
    return JobRunner(
        sessions,
        jobs,
        {KIND: handler},
        clock=clock,
        metrics=metrics,
        backoff=Backoff(base_s=10.0, cap_s=60.0),
        poll_interval_s=0.05,
        lease_s=30.0,
        heartbeat_interval_s=0.05,
        measure_interval_s=0.05,
        **options,
    )


async def enqueue(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, *, total: int, attempts: int = 3
) -> uuid.UUID:
    job_id = new_id()
    async with sessions.begin() as session:
        await SqlaJobRecords(session, jobs).enqueue(
            job_id=job_id,
            kind=KIND,
            org_id=None,
            params={"total": total},
            total=total,
            created_by=None,
            max_attempts=attempts,
            now=clock.now(),
        )
    return job_id


async def read(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> Job:
    async with sessions() as session:
        found = await SqlaJobRecords(session, jobs).get(job_id=job_id)
    assert found is not None
    return found


async def steps(sessions: async_sessionmaker[AsyncSession], job_id: uuid.UUID) -> list[int]:
    async with sessions() as session:
        rows = await session.execute(
            select(applied.c.step).where(applied.c.job_id == job_id).order_by(applied.c.step)
        )
        return list(rows.scalars())


def outcome(metrics: Metrics, value: str) -> float:
    sample = metrics.registry.get_sample_value("jobs_total", {"job": KIND, "outcome": value})
    return sample or 0.0


async def test_a_job_runs_to_succeeded_with_its_result_and_percent(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=95)
    assert (await read(sessions, job_id)).state is JobState.QUEUED
    ran = await runner(sessions, stepper(sessions), clock, metrics).run_once()
    assert ran
    job = await read(sessions, job_id)
    assert job.state is JobState.SUCCEEDED
    assert (job.percent, job.done, job.attempts) == (100, 95, 1)
    assert job.result == {"applied": 95}
    assert job.lease_owner is None
    assert job.finished_at is not None
    assert await steps(sessions, job_id) == list(range(95))
    assert outcome(metrics, "succeeded") == 1


async def test_a_killed_worker_s_job_resumes_from_its_checkpoint_without_double_apply(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=100)
    held = asyncio.Event()
    first = runner(sessions, stepper(sessions, hold_after=47, held=held), clock, metrics)
    crashed = asyncio.create_task(first.run_once())
    await asyncio.wait_for(held.wait(), timeout=10)
    # Mid-batch, steps 40..47 written but not committed: the process dies (nothing released).
    crashed.cancel()
    await asyncio.gather(crashed, return_exceptions=True)
    job = await read(sessions, job_id)
    assert job.state is JobState.RUNNING
    assert (job.done, job.percent, job.checkpoint) == (40, 40, {"next": 40})
    assert await steps(sessions, job_id) == list(range(40))

    second = runner(sessions, stepper(sessions), clock, metrics, owner="second")
    assert not await second.run_once(), "the dead worker's lease still holds"
    clock.advance(timedelta(seconds=31))
    assert await second.run_once()
    job = await read(sessions, job_id)
    assert job.state is JobState.SUCCEEDED
    assert job.attempts == 2
    assert await steps(sessions, job_id) == list(range(100))


async def test_a_worker_whose_lease_moved_on_cannot_write_progress(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=10)
    held = asyncio.Event()
    slow = runner(sessions, stepper(sessions, hold_after=3, held=held), clock, metrics)
    stuck = asyncio.create_task(slow.run_once())
    await asyncio.wait_for(held.wait(), timeout=10)
    stuck.cancel()
    await asyncio.gather(stuck, return_exceptions=True)
    clock.advance(timedelta(seconds=31))
    assert await runner(sessions, stepper(sessions), clock, metrics, owner="b").run_once()
    async with sessions.begin() as session:
        with pytest.raises(JobLeaseLostError):
            await SqlaJobRecords(session, jobs).save_progress(
                JobLease(job_id, slow.owner),
                checkpoint={"next": 99},
                done=99,
                now=clock.now(),
                lease_for=timedelta(seconds=30),
            )
    assert (await read(sessions, job_id)).checkpoint == {"next": 10}


async def test_cancelling_a_queued_job_is_immediate(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=10)
    async with sessions.begin() as session:
        job = await SqlaJobRecords(session, jobs).request_cancel(
            job_id=job_id, kind=KIND, org_id=None, now=clock.now()
        )
    assert job is not None
    assert job.state is JobState.CANCELLED
    assert job.cancel_requested
    assert not await runner(sessions, stepper(sessions), clock, metrics).run_once()
    assert await steps(sessions, job_id) == []


async def test_cancelling_a_running_job_stops_it_after_its_current_batch(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=1000)
    gate = asyncio.Event()
    inner = stepper(sessions, batch=10)

    async def slow(run: JobRun) -> Mapping[str, Any] | None:
        await gate.wait()
        return await inner(run)

    task = asyncio.create_task(runner(sessions, slow, clock, metrics).run_once())
    for _ in range(100):
        if (await read(sessions, job_id)).state is JobState.RUNNING:
            break
        await asyncio.sleep(0.02)
    async with sessions.begin() as session:
        await SqlaJobRecords(session, jobs).request_cancel(
            job_id=job_id, kind=KIND, org_id=None, now=clock.now()
        )
    await asyncio.sleep(0.2)  # the heartbeat (every 0.05 s) brings the request to the run
    gate.set()
    await asyncio.wait_for(task, timeout=10)
    job = await read(sessions, job_id)
    assert job.state is JobState.CANCELLED
    assert job.result == {"applied": 0}
    assert await steps(sessions, job_id) == []
    assert outcome(metrics, "cancelled") == 1


async def test_a_transient_failure_is_retried_after_backoff_from_the_checkpoint(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=20)
    failing = stepper(sessions, fail_first=InfrastructureError("database restarting"))
    work = runner(sessions, failing, clock, metrics)
    assert await work.run_once()
    job = await read(sessions, job_id)
    assert job.state is JobState.QUEUED
    assert job.attempts == 1
    assert job.error is not None
    assert job.error["code"] == InfrastructureError.code
    assert job.run_after >= clock.now() + timedelta(seconds=5), "backoff: at least half of 10 s"
    assert not await work.run_once(), "not due before its backoff"
    clock.advance(timedelta(seconds=11))
    assert await work.run_once()
    job = await read(sessions, job_id)
    assert (job.state, job.attempts) == (JobState.SUCCEEDED, 2)
    assert outcome(metrics, "retried") == 1


async def test_a_permanent_error_fails_the_job_at_once(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=20)
    failing = stepper(sessions, fail_first=ValidationError("the input is wrong"))
    assert await runner(sessions, failing, clock, metrics).run_once()
    job = await read(sessions, job_id)
    assert job.state is JobState.FAILED
    assert job.error == {
        "code": "validation.failed",
        "message": "the input is wrong",
        "attempt": 1,
    }
    assert outcome(metrics, "failed") == 1


async def test_a_job_whose_attempts_are_spent_fails(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=10, attempts=1)
    failing = stepper(sessions, fail_first=InfrastructureError("down"))
    assert await runner(sessions, failing, clock, metrics).run_once()
    job = await read(sessions, job_id)
    assert job.state is JobState.FAILED
    assert job.attempts == 1


async def test_the_runner_measures_running_jobs_and_their_heartbeat_age(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=10)
    held = asyncio.Event()
    stuck = runner(sessions, stepper(sessions, hold_after=2, held=held), clock, metrics)
    task = asyncio.create_task(stuck.run_once())
    await asyncio.wait_for(held.wait(), timeout=10)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    clock.advance(timedelta(seconds=25))  # a dead worker: its heartbeat ages, its lease holds
    observer = runner(sessions, stepper(sessions), clock, metrics, owner="observer")
    await observer.measure()
    labels = {"job": KIND}
    assert (metrics.registry.get_sample_value("jobs_running", labels) or 0) >= 1
    age = metrics.registry.get_sample_value("jobs_heartbeat_age_seconds", labels)
    assert age is not None
    assert age >= 25
    clock.advance(timedelta(seconds=10))
    assert await observer.run_once()  # taken over and finished
    assert (await read(sessions, job_id)).state is JobState.SUCCEEDED


async def test_concurrent_workers_never_take_the_same_job(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    ids = [await enqueue(sessions, clock, total=30) for _ in range(4)]
    workers = [
        runner(sessions, stepper(sessions, batch=3), clock, metrics, owner=f"w{n}")
        for n in range(3)
    ]
    results = await asyncio.gather(*(w.run_once() for w in workers for _ in range(2)))
    assert sum(results) >= 4
    for job_id in ids:
        assert (await read(sessions, job_id)).state is JobState.SUCCEEDED
        assert await steps(sessions, job_id) == list(range(30))


async def test_a_stopping_worker_gives_its_job_back_without_spending_an_attempt(
    sessions: async_sessionmaker[AsyncSession], clock: FrozenClock, metrics: Metrics
) -> None:
    job_id = await enqueue(sessions, clock, total=100)
    entered, gate = asyncio.Event(), asyncio.Event()
    inner = stepper(sessions)

    async def slow(run: JobRun) -> Mapping[str, Any] | None:
        entered.set()
        await gate.wait()
        return await inner(run)

    work = runner(sessions, slow, clock, metrics)
    task = asyncio.create_task(work.run_once())
    await asyncio.wait_for(entered.wait(), timeout=10)
    work.stop()  # SIGTERM: the handler stops at its next step
    gate.set()
    await asyncio.wait_for(task, timeout=10)
    job = await read(sessions, job_id)
    assert (job.state, job.attempts, job.lease_owner) == (JobState.QUEUED, 0, None)
    assert await steps(sessions, job_id) == []
    assert await runner(sessions, stepper(sessions), clock, metrics).run_once()
    assert (await read(sessions, job_id)).state is JobState.SUCCEEDED
