"""Jobs as use cases see them: states, the snapshot of a job, the records port, a run."""

from __future__ import annotations

import enum
import random
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from shared.clock import Clock

__all__ = [
    "ACTIVE_STATES",
    "FINAL_STATES",
    "Backoff",
    "Job",
    "JobCancelledError",
    "JobLease",
    "JobLeaseLostError",
    "JobRecords",
    "JobRun",
    "JobState",
    "JobStoppedError",
]


class JobState(enum.StrEnum):
    """Where a job is: queued (waiting, or waiting for a retry), running, or finished."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING})
FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})


@dataclass(frozen=True, slots=True)
class Job:
    """A job as last read from its row.

    Attributes:
        done: steps applied so far (rows, items); with ``total`` gives :attr:`percent`.
        checkpoint: the handler's resume point, written with the work it describes.
        result: what a finished job reports (a succeeded or cancelled one's summary).
        error: ``{"code", "message"}`` of the last failed attempt.
    """

    id: uuid.UUID
    kind: str
    org_id: uuid.UUID | None
    state: JobState
    params: Mapping[str, Any]
    total: int | None
    done: int
    checkpoint: Mapping[str, Any] | None
    result: Mapping[str, Any] | None
    error: Mapping[str, Any] | None
    attempts: int
    max_attempts: int
    cancel_requested: bool
    created_by: uuid.UUID | None
    created_at: datetime
    updated_at: datetime
    run_after: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    heartbeat_at: datetime | None = None
    lease_owner: str | None = None
    lease_expires_at: datetime | None = None

    @property
    def percent(self) -> int:
        """Percent complete, 0-100 (100 only once succeeded: the last step may still fail)."""
        if self.state is JobState.SUCCEEDED:
            return 100
        if not self.total:
            return 0
        return min(99, self.done * 100 // self.total)

    @property
    def finished(self) -> bool:
        """True in a final state."""
        return self.state in FINAL_STATES

    def heartbeat_age_s(self, now: datetime) -> float | None:
        """Seconds since the last heartbeat of a running job (None otherwise)."""
        if self.state is not JobState.RUNNING or self.heartbeat_at is None:
            return None
        return max(0.0, (now - self.heartbeat_at).total_seconds())


@dataclass(frozen=True, slots=True)
class JobLease:
    """A worker's hold on a running job: only its owner may write progress or finish it."""

    job_id: uuid.UUID
    owner: str


class JobLeaseLostError(Exception):
    """The lease moved on (expired and taken over, or the job was finished elsewhere): the
    writer's transaction must roll back, so a step is never applied by two workers. Internal
    to a worker: never answered to a client."""

    def __init__(self, lease: JobLease) -> None:
        super().__init__(f"job {lease.job_id} is no longer held by {lease.owner}")
        self.lease = lease


class JobCancelledError(Exception):
    """Raised by a handler that stopped because a cancel was requested; ``result`` is the
    summary of what it did until then (kept on the cancelled job)."""

    def __init__(self, result: Mapping[str, Any] | None = None) -> None:
        super().__init__("job cancelled")
        self.result = dict(result or {})


class JobStoppedError(Exception):
    """Raised by a handler that stopped because its worker is shutting down: the job goes
    back to the queue (without spending an attempt) and resumes from its checkpoint."""


class JobRecords(Protocol):
    """A service's jobs, inside the caller's transaction (a unit of work exposes one)."""

    async def enqueue(
        self,
        *,
        job_id: uuid.UUID,
        kind: str,
        org_id: uuid.UUID | None,
        params: Mapping[str, Any],
        total: int | None,
        created_by: uuid.UUID | None,
        max_attempts: int,
        now: datetime,
    ) -> Job:
        """Insert a queued job (committed with the caller's transaction)."""
        ...

    async def get(
        self, *, job_id: uuid.UUID, kind: str | None = None, org_id: uuid.UUID | None = None
    ) -> Job | None:
        """The job, or None (also when it is of another kind or org than given)."""
        ...

    async def request_cancel(
        self, *, job_id: uuid.UUID, kind: str | None, org_id: uuid.UUID | None, now: datetime
    ) -> Job | None:
        """Cancel a queued job at once; ask a running one's worker to stop (it stops after its
        current step); a finished job is left as it is. None when there is no such job."""
        ...

    async def save_progress(
        self,
        lease: JobLease,
        *,
        checkpoint: Mapping[str, Any],
        done: int,
        now: datetime,
        lease_for: timedelta,
    ) -> bool:
        """Write the checkpoint and progress, extend the lease; return ``cancel_requested``.

        Raises:
            JobLeaseLostError: the lease is not ``lease``'s any more (roll back).
        """
        ...


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff between attempts: ``base_s * 2**(attempt-1)``, capped, with jitter
    (half fixed, half random) so jobs that failed together do not retry together."""

    base_s: float = 2.0
    cap_s: float = 300.0

    def delay(self, attempt: int) -> timedelta:
        """The pause after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.cap_s, self.base_s * 2 ** max(0, attempt - 1))
        # Jitter only spreads retries; it needs no cryptographic randomness.
        spread = random.uniform(0, ceiling / 2)  # noqa: S311 # nosec B311
        return timedelta(seconds=ceiling / 2 + spread)


@dataclass(slots=True)
class JobRun:
    """One attempt at a job, as its handler sees it.

    The handler applies its steps in transactions of its own and, in each, calls
    :meth:`save_progress` with that transaction's :class:`JobRecords` before committing: the
    checkpoint then commits with the steps, or neither does. Between steps it calls
    :meth:`stop_if_asked`, which raises when a cancel was requested or the worker stops.
    """

    job: Job
    lease: JobLease
    clock: Clock
    lease_for: timedelta
    cancel_requested: bool = False
    stopping: bool = False
    done: int = field(default=0)

    @property
    def checkpoint(self) -> Mapping[str, Any] | None:
        """Where the previous attempt left off (None on a first run)."""
        return self.job.checkpoint

    @property
    def should_stop(self) -> bool:
        """A cancel was requested, or the worker is shutting down (the job resumes later)."""
        return self.cancel_requested or self.stopping

    def stop_if_asked(self, result: Mapping[str, Any] | None = None) -> None:
        """Call between steps (after a commit).

        Raises:
            JobCancelledError: a cancel was requested (``result``: what was done so far).
            JobStoppedError: the worker is shutting down.
        """
        if self.cancel_requested:
            raise JobCancelledError(result)
        if self.stopping:
            raise JobStoppedError()

    async def save_progress(
        self, records: JobRecords, *, checkpoint: Mapping[str, Any], done: int
    ) -> None:
        """Write ``checkpoint`` and ``done`` in ``records``' transaction (see the class).

        Raises:
            JobLeaseLostError: another worker holds the job now; roll the transaction back.
        """
        cancel = await records.save_progress(
            self.lease,
            checkpoint=checkpoint,
            done=done,
            now=self.clock.now(),
            lease_for=self.lease_for,
        )
        self.done = done
        self.cancel_requested = self.cancel_requested or cancel
