"""The worker-role loop that runs a service's jobs: claim, heartbeat, run, finish or retry.

:class:`JobRunner` takes one due job at a time (``FOR UPDATE SKIP LOCKED``, so any number of
replicas may run), holds it with a lease that a heartbeat task extends every
``heartbeat_interval_s``, and calls the handler registered for its kind with a
:class:`shared.jobs.JobRun`. Outcomes:

- the handler returns a result: ``succeeded`` (``jobs_total{outcome="succeeded"}``);
- it raises :class:`shared.jobs.JobCancelledError` (a cancel was requested): ``cancelled``;
- it raises a permanent error (an ``AppError`` that is not an ``InfrastructureError``), or
  its attempts are spent: ``failed``;
- anything else (the database restarted, a bug that may pass): queued again after
  :class:`shared.jobs.Backoff`'s delay, resuming from the checkpoint;
- the lease is lost (the heartbeat found another owner): the handler is cancelled, its open
  transaction rolls back, and the new owner carries on;
- the worker stops (SIGTERM): the handler's ``run.stop_if_asked()`` raises
  :class:`shared.jobs.JobStoppedError`; the job goes back to the queue without spending an
  attempt (a handler that does not reach a step within ``stop_timeout_s`` is cancelled).

A worker that dies (kill -9) keeps nothing: its lease expires after ``lease_s`` and the next
claim resumes the job from its last committed checkpoint.

Every ``measure_interval_s`` the runner sets ``jobs_running{job}`` and
``jobs_heartbeat_age_seconds{job}`` from the table (the ``JobHeartbeatStale`` alert reads the
latter), and it counts every outcome in ``jobs_total{job, outcome}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import structlog
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from shared.errors import AppError, InfrastructureError
from shared.ids import new_id
from shared.jobs._model import (
    Backoff,
    Job,
    JobCancelledError,
    JobLease,
    JobRun,
    JobState,
    JobStoppedError,
)
from shared.jobs.sqla import (
    claim_job,
    finish_job,
    heartbeat_job,
    measure_running,
    release_job,
    retry_job,
)
from shared.observability.metrics import Metrics, default_metrics

__all__ = ["JobHandler", "JobRunner"]

log = structlog.get_logger(__name__)

JobHandler = Callable[[JobRun], Coroutine[Any, Any, Mapping[str, Any] | None]]
"""Runs one attempt of a job; returns the result of a succeeded job (see :class:`JobRun`)."""


class JobRunner:
    """Runs the jobs of ``handlers``' kinds from ``table`` until stopped.

    Args:
        sessions: the service's session factory (the runner's own short transactions).
        table: from :func:`shared.jobs.sqla.jobs_table`.
        handlers: kind -> handler.
        poll_interval_s: how long an idle runner waits before it looks for due jobs again.
        lease_s: how long a claim holds without a heartbeat (a dead worker's jobs wait this
            long before another worker resumes them).
        heartbeat_interval_s: how often the lease is extended (well under ``lease_s``).
        stop_timeout_s: how long :meth:`stop` lets a handler reach its next step.
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        table: Table,
        handlers: Mapping[str, JobHandler],
        *,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
        poll_interval_s: float = 1.0,
        lease_s: float = 30.0,
        heartbeat_interval_s: float = 5.0,
        measure_interval_s: float = 15.0,
        stop_timeout_s: float = 10.0,
        owner: str | None = None,
    ) -> None:
        if heartbeat_interval_s >= lease_s:
            raise ValueError("heartbeat_interval_s must be shorter than lease_s")
        self._sessions = sessions
        self._table = table
        self._handlers = dict(handlers)
        self._clock = clock or SystemClock()
        self._metrics = metrics or default_metrics()
        self._backoff = backoff or Backoff()
        self._poll_s = poll_interval_s
        self._lease = timedelta(seconds=lease_s)
        self._heartbeat_s = heartbeat_interval_s
        self._measure_s = measure_interval_s
        self._stop_timeout_s = stop_timeout_s
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{new_id().hex[-8:]}"
        self._stopping = asyncio.Event()
        self._current: JobRun | None = None
        self._measured_at = float("-inf")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds this runner runs."""
        return tuple(self._handlers)

    def stop(self) -> None:
        """Claim nothing more; the job in progress is asked to stop at its next step."""
        self._stopping.set()
        if self._current is not None:
            self._current.stopping = True

    async def run(self) -> None:
        """Run due jobs one after another until :meth:`stop`."""
        while not self._stopping.is_set():
            await self._measure_if_due()
            try:
                ran = await self.run_once()
            except Exception:
                # The database is away: wait and look again, the loop must outlive it.
                log.exception("job_claim_failed", owner=self.owner)
                ran = False
            if not ran:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), timeout=self._poll_s)

    async def run_once(self) -> bool:
        """Claim and run one due job; False when none was due."""
        async with self._sessions.begin() as session:
            job = await claim_job(
                session,
                self._table,
                kinds=self.kinds,
                owner=self.owner,
                now=self._clock.now(),
                lease_for=self._lease,
            )
        if job is None:
            return False
        await self._execute(job)
        return True

    async def measure(self) -> None:
        """Set the running and heartbeat-age gauges of every kind from the table."""
        async with self._sessions() as session:
            found = await measure_running(
                session, self._table, kinds=self.kinds, now=self._clock.now()
            )
        for kind in self.kinds:
            running, age = found.get(kind, (0, 0.0))
            self._metrics.jobs_running.labels(job=kind).set(running)
            self._metrics.jobs_heartbeat_age_seconds.labels(job=kind).set(age)

    async def _measure_if_due(self) -> None:
        if time.monotonic() - self._measured_at < self._measure_s:
            return
        self._measured_at = time.monotonic()
        try:
            await self.measure()
        except Exception:
            log.warning("job_measure_failed", exc_info=True)

    # --- one job ---------------------------------------------------------------------------

    async def _execute(self, job: Job) -> None:
        lease = JobLease(job.id, self.owner)
        if job.attempts > job.max_attempts:
            await self._finish(lease, job, JobState.FAILED, error=_exhausted(job))
            return
        run = JobRun(
            job=job,
            lease=lease,
            clock=self._clock,
            lease_for=self._lease,
            cancel_requested=job.cancel_requested,
            stopping=self._stopping.is_set(),
            done=job.done,
        )
        self._current = run
        log.info("job_started", job=job.kind, job_id=str(job.id), attempt=job.attempts)
        try:
            await self._supervise(run, self._handlers[job.kind])
        finally:
            self._current = None

    async def _supervise(self, run: JobRun, handler: JobHandler) -> None:
        task = asyncio.create_task(handler(run), name=f"job:{run.job.kind}:{run.job.id}")
        beat = asyncio.create_task(self._heartbeat(run, task), name=f"job-heartbeat:{run.job.id}")
        try:
            result = await task
        except asyncio.CancelledError:
            if not task.cancelled():
                # This runner itself is being cancelled: the handler's open transaction rolls
                # back and the lease stays, to expire (as if the process had died).
                task.cancel()
                await asyncio.wait({task}, timeout=self._stop_timeout_s)
                raise
            if run.stopping:
                await self._release(run)
            else:
                log.warning("job_lease_lost", job=run.job.kind, job_id=str(run.job.id))
            return
        except JobCancelledError as exc:
            await self._finish(run.lease, run.job, JobState.CANCELLED, result=exc.result)
            return
        except JobStoppedError:
            await self._release(run)
            return
        except Exception as exc:
            await self._failed(run, exc)
            return
        finally:
            beat.cancel()
            await asyncio.gather(beat, return_exceptions=True)
        await self._finish(run.lease, run.job, JobState.SUCCEEDED, result=result or {})

    async def _heartbeat(self, run: JobRun, task: asyncio.Task[Any]) -> None:
        stop_deadline: float | None = None
        while not task.done():
            await asyncio.sleep(min(self._heartbeat_s, 1.0) if run.stopping else self._heartbeat_s)
            if run.stopping and stop_deadline is None:
                stop_deadline = time.monotonic() + self._stop_timeout_s
            if stop_deadline is not None and time.monotonic() > stop_deadline:
                task.cancel()  # the handler did not reach a step in time; its work rolls back
                return
            try:
                async with self._sessions.begin() as session:
                    cancel = await heartbeat_job(
                        session,
                        self._table,
                        run.lease,
                        now=self._clock.now(),
                        lease_for=self._lease,
                    )
            except Exception:
                log.warning("job_heartbeat_failed", job_id=str(run.job.id), exc_info=True)
                continue
            if cancel is None:
                task.cancel()
                return
            run.cancel_requested = run.cancel_requested or cancel

    async def _failed(self, run: JobRun, exc: Exception) -> None:
        job = run.job
        error = {"code": _code(exc), "message": _message(exc), "attempt": job.attempts}
        permanent = isinstance(exc, AppError) and not isinstance(exc, InfrastructureError)
        if permanent or job.attempts >= job.max_attempts:
            log.error("job_failed", job=job.kind, job_id=str(job.id), exc_info=exc)
            await self._finish(run.lease, job, JobState.FAILED, error=error)
            return
        now = self._clock.now()
        delay = self._backoff.delay(job.attempts)
        log.warning(
            "job_retry",
            job=job.kind,
            job_id=str(job.id),
            delay_s=delay.total_seconds(),
            exc_info=exc,
        )
        async with self._sessions.begin() as session:
            await retry_job(
                session, self._table, run.lease, run_after=now + delay, now=now, error=error
            )
        self._metrics.jobs_total.labels(job=job.kind, outcome="retried").inc()

    async def _release(self, run: JobRun) -> None:
        async with self._sessions.begin() as session:
            await release_job(session, self._table, run.lease, now=self._clock.now())
        log.info("job_released", job=run.job.kind, job_id=str(run.job.id), done=run.done)

    async def _finish(
        self,
        lease: JobLease,
        job: Job,
        state: JobState,
        *,
        result: Mapping[str, Any] | None = None,
        error: Mapping[str, Any] | None = None,
    ) -> None:
        async with self._sessions.begin() as session:
            held = await finish_job(
                session,
                self._table,
                lease,
                state=state,
                now=self._clock.now(),
                result=result,
                error=error,
            )
        if not held:
            log.warning("job_lease_lost", job=job.kind, job_id=str(job.id))
            return
        self._metrics.jobs_total.labels(job=job.kind, outcome=state.value).inc()
        log.info("job_finished", job=job.kind, job_id=str(job.id), state=state.value)


def _exhausted(job: Job) -> dict[str, Any]:
    return {
        "code": "job.attempts_exhausted",
        "message": f"The job was tried {job.max_attempts} times without finishing.",
        "attempt": job.attempts,
    }


def _code(exc: Exception) -> str:
    return exc.code if isinstance(exc, AppError) else "job.failed"


def _message(exc: Exception) -> str:
    # An unexpected error's text may hold internals: the job's reader gets only its type.
    return exc.message if isinstance(exc, AppError) else f"Unexpected {type(exc).__name__}."
