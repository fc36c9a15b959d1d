"""Periodic background jobs: housekeeping that runs now and then every interval until stopped.

A :class:`PeriodicJob` runs ``job`` at once, then again each time ``interval_s`` has passed
since the previous run ended. It runs either in a task of its own, started and closed by the
process that hosts it (an API's lifespan: :meth:`PeriodicJob.start`, :meth:`PeriodicJob.close`),
or in the caller's task (a worker process: :meth:`PeriodicJob.run` until :meth:`PeriodicJob.stop`,
e.g. through ``shared.http.serve_with_worker``).

Each run is counted in ``jobs_total{job, outcome}`` (``succeeded``, ``failed``, ``cancelled``)
and logged with the count the job returns (rows purged, items handled; at DEBUG when 0). A
failed run (the database is down) is logged and tried again at the next interval: it never ends
the loop.

Nothing here elects a leader: every replica of the hosting process runs its own loop, so a job
must be harmless when it runs concurrently with itself (one idempotent statement, such as a
``DELETE`` of expired rows, or row locks with ``SKIP LOCKED``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog

from shared.observability.metrics import Metrics, default_metrics

__all__ = ["Job", "PeriodicJob"]

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[int]]
"""One run of a periodic job; returns how many things it handled (logged as ``count``)."""


class PeriodicJob:
    """Runs ``job`` every ``interval_s`` seconds until stopped.

    Args:
        name: the ``job`` label of ``jobs_total`` and of the log lines
            (``<service>.<verb_noun>``, e.g. ``identity.purge_idempotency_keys``).
        job: one run; an exception fails that run only.
        interval_s: the pause between the end of one run and the start of the next.
        metrics: where ``jobs_total`` goes; the process default if None.
        stop_timeout_s: how long :meth:`close` waits for a run in progress before cancelling it.

    Attributes:
        runs: the runs finished so far, succeeded or failed.
    """

    def __init__(
        self,
        name: str,
        job: Job,
        *,
        interval_s: float,
        metrics: Metrics | None = None,
        stop_timeout_s: float = 5.0,
    ) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s}")
        self.name = name
        self.interval_s = interval_s
        self.stop_timeout_s = stop_timeout_s
        self.runs = 0
        self._job = job
        self._metrics = metrics or default_metrics()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the task started by :meth:`start` has not ended."""
        return self._task is not None and not self._task.done()

    @property
    def stopping(self) -> bool:
        """True once :meth:`stop` was called: a long run may end early between its steps."""
        return self._stopping.is_set()

    def start(self) -> None:
        """Run :meth:`run` in a task of its own (call from the running loop, e.g. a lifespan)."""
        if self._task is not None:
            raise RuntimeError(f"periodic job {self.name!r} was already started")
        self._task = asyncio.create_task(self.run(), name=f"periodic-job:{self.name}")

    def stop(self) -> None:
        """Ask :meth:`run` to return once the run in progress (if any) has finished."""
        self._stopping.set()

    async def close(self) -> None:
        """Stop the task :meth:`start` began and wait for it to end.

        A run still going after ``stop_timeout_s`` is cancelled (and counted ``cancelled``):
        shutdown is never held up by a hanging job. Without :meth:`start`, only stops.
        """
        self.stop()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=self.stop_timeout_s)
        if done:
            await task  # re-raises what ended the loop other than a stop (a bug)
            return
        task.cancel()
        await asyncio.wait({task})

    async def run(self) -> None:
        """Run the job now, then every ``interval_s``, until :meth:`stop`."""
        while not self._stopping.is_set():
            await self.run_once()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), timeout=self.interval_s)

    async def run_once(self) -> bool:
        """Run the job once, count and log the outcome; return whether it succeeded."""
        started = time.perf_counter()
        try:
            count = await self._job()
        except asyncio.CancelledError:
            self._count("cancelled")
            log.warning("job_cancelled", job=self.name)
            raise
        except Exception as exc:
            self.runs += 1
            self._count("failed")
            log.error("job_failed", job=self.name, exc_info=exc)
            return False
        self.runs += 1
        self._count("succeeded")
        took_ms = int((time.perf_counter() - started) * 1000)
        # A run that found nothing is routine (a sweep may run every second): DEBUG, not INFO.
        emit = log.info if count else log.debug
        emit("job_succeeded", job=self.name, count=count, took_ms=took_ms)
        return True

    def _count(self, outcome: str) -> None:
        self._metrics.jobs_total.labels(job=self.name, outcome=outcome).inc()
