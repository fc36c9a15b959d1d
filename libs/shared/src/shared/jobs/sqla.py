"""The jobs table on PostgreSQL: its declaration, migration helpers and the records adapter.

A service adds :func:`jobs_table` to its metadata (so its drift test sees it), creates it in a
migration with :func:`upgrade_jobs` / :func:`downgrade_jobs`, and binds
:class:`SqlaJobRecords` to its unit of work's session (the handler's checkpoints then commit
with its steps). The worker's own statements (claim, heartbeat, finish) live here too, used by
:class:`shared.jobs.runner.JobRunner` in short transactions of their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Uuid,
    and_,
    case,
    func,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from shared import pii
from shared.jobs._model import FINAL_STATES, Job, JobLease, JobLeaseLostError, JobState

__all__ = [
    "JOBS_TABLE",
    "SqlaJobRecords",
    "claim_job",
    "downgrade_jobs",
    "finish_job",
    "heartbeat_job",
    "jobs_table",
    "list_jobs",
    "measure_running",
    "release_job",
    "retry_job",
    "upgrade_jobs",
]

JOBS_TABLE = "jobs"
_TS = DateTime(timezone=True)
_ACTIVE_VALUES = (JobState.QUEUED.value, JobState.RUNNING.value)
_STATES = ", ".join(f"'{s.value}'" for s in JobState)


def _columns() -> list[Any]:
    return [
        Column("id", Uuid, primary_key=True, info=pii.none()),
        Column("kind", String(100), nullable=False, info=pii.none()),
        Column("org_id", Uuid, nullable=True, info=pii.none()),
        Column("state", String(16), nullable=False, info=pii.none()),
        Column(
            "params",
            JSONB,
            nullable=False,
            info=pii.none("the job's input, e.g. a stock import's CSV of SKUs"),
        ),
        Column("total", Integer, nullable=True, info=pii.none()),
        Column("done", Integer, nullable=False, info=pii.none()),
        Column("checkpoint", JSONB, nullable=True, info=pii.none()),
        Column(
            "result",
            JSONB,
            nullable=True,
            info=pii.personal("the outcome; a data export's holds its subject's data"),
        ),
        Column("error", JSONB, nullable=True, info=pii.none()),
        Column("attempts", Integer, nullable=False, info=pii.none()),
        Column("max_attempts", Integer, nullable=False, info=pii.none()),
        Column("cancel_requested", Boolean, nullable=False, info=pii.none()),
        Column(
            "created_by",
            Uuid,
            nullable=True,
            info=pii.pseudonymous_id("the user who started the job"),
        ),
        Column("created_at", _TS, nullable=False, info=pii.none()),
        Column("updated_at", _TS, nullable=False, info=pii.none()),
        Column("run_after", _TS, nullable=False, info=pii.none()),
        Column("started_at", _TS, nullable=True, info=pii.none()),
        Column("finished_at", _TS, nullable=True, info=pii.none()),
        Column("heartbeat_at", _TS, nullable=True, info=pii.none()),
        Column(
            "lease_owner",
            String(200),
            nullable=True,
            info=pii.none("the worker process holding the job"),
        ),
        Column("lease_expires_at", _TS, nullable=True, info=pii.none()),
    ]


def _checks(name: str) -> list[Any]:
    return [
        CheckConstraint(f"state IN ({_STATES})", name=f"ck_{name}_state"),
        CheckConstraint("done >= 0 AND attempts >= 0", name=f"ck_{name}_counts"),
    ]


# The worker's claim scans only active jobs: a partial index keeps it small however many
# finished jobs the table keeps.
_ACTIVE = "state IN ('queued', 'running')"


def jobs_table(metadata: MetaData, name: str = JOBS_TABLE) -> Table:
    """The jobs table, declared on ``metadata``."""
    return Table(
        name,
        metadata,
        *_columns(),
        *_checks(name),
        Index(f"ix_{name}_active", "run_after", postgresql_where=text(_ACTIVE)),
        Index(f"ix_{name}_org_kind", "org_id", "kind", "id"),
        info=pii.held_for("long-running work: state, progress and outcome", retention="jobs"),
    )


def upgrade_jobs(op: Any, name: str = JOBS_TABLE) -> None:
    """Create the table and its indexes; call from a service's Alembic ``upgrade()``."""
    op.create_table(name, *_columns(), *_checks(name))
    op.create_index(f"ix_{name}_active", name, ["run_after"], postgresql_where=text(_ACTIVE))
    op.create_index(f"ix_{name}_org_kind", name, ["org_id", "kind", "id"])


def downgrade_jobs(op: Any, name: str = JOBS_TABLE) -> None:
    """Drop what :func:`upgrade_jobs` created."""
    op.drop_index(f"ix_{name}_org_kind", table_name=name)
    op.drop_index(f"ix_{name}_active", table_name=name)
    op.drop_table(name)


def to_job(row: Mapping[Any, Any]) -> Job:
    """A row of the table as a :class:`Job`."""
    values = dict(row)
    values["state"] = JobState(values["state"])
    return Job(**values)


def _scope(table: Table, job_id: uuid.UUID, kind: str | None, org_id: uuid.UUID | None) -> Any:
    clause = table.c.id == job_id
    if kind is not None:
        clause = and_(clause, table.c.kind == kind)
    if org_id is not None:
        clause = and_(clause, table.c.org_id == org_id)
    return clause


def _held(table: Table, lease: JobLease) -> ColumnElement[bool]:
    return and_(
        table.c.id == lease.job_id,
        table.c.lease_owner == lease.owner,
        table.c.state == JobState.RUNNING.value,
    )


class SqlaJobRecords:
    """:class:`shared.jobs.JobRecords` in ``session``'s open transaction."""

    def __init__(self, session: AsyncSession, table: Table) -> None:
        self._session = session
        self._table = table

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
        """See :meth:`shared.jobs.JobRecords.enqueue`."""
        values = {
            "id": job_id,
            "kind": kind,
            "org_id": org_id,
            "state": JobState.QUEUED.value,
            "params": dict(params),
            "total": total,
            "done": 0,
            "checkpoint": None,
            "result": None,
            "error": None,
            "attempts": 0,
            "max_attempts": max_attempts,
            "cancel_requested": False,
            "created_by": created_by,
            "created_at": now,
            "updated_at": now,
            "run_after": now,
        }
        row = (
            (
                await self._session.execute(
                    self._table.insert().values(values).returning(self._table)
                )
            )
            .mappings()
            .one()
        )
        return to_job(row)

    async def get(
        self, *, job_id: uuid.UUID, kind: str | None = None, org_id: uuid.UUID | None = None
    ) -> Job | None:
        """See :meth:`shared.jobs.JobRecords.get`."""
        query = select(self._table).where(_scope(self._table, job_id, kind, org_id))
        row = (await self._session.execute(query)).mappings().one_or_none()
        return None if row is None else to_job(row)

    async def request_cancel(
        self, *, job_id: uuid.UUID, kind: str | None, org_id: uuid.UUID | None, now: datetime
    ) -> Job | None:
        """See :meth:`shared.jobs.JobRecords.request_cancel` (one statement, row-locked)."""
        t = self._table
        queued = t.c.state == JobState.QUEUED.value
        statement = (
            update(t)
            .where(_scope(t, job_id, kind, org_id), t.c.state.in_(_ACTIVE_VALUES))
            .values(
                cancel_requested=True,
                updated_at=now,
                state=case((queued, JobState.CANCELLED.value), else_=t.c.state),
                finished_at=case((queued, now), else_=t.c.finished_at),
                lease_owner=case((queued, None), else_=t.c.lease_owner),
            )
            .returning(t)
        )
        row = (await self._session.execute(statement)).mappings().one_or_none()
        if row is not None:
            return to_job(row)
        return await self.get(job_id=job_id, kind=kind, org_id=org_id)

    async def save_progress(
        self,
        lease: JobLease,
        *,
        checkpoint: Mapping[str, Any],
        done: int,
        now: datetime,
        lease_for: timedelta,
    ) -> bool:
        """See :meth:`shared.jobs.JobRecords.save_progress`."""
        t = self._table
        statement = (
            update(t)
            .where(_held(t, lease))
            .values(
                checkpoint=dict(checkpoint),
                done=done,
                heartbeat_at=now,
                lease_expires_at=now + lease_for,
                updated_at=now,
            )
            .returning(t.c.cancel_requested)
        )
        cancel = (await self._session.execute(statement)).scalar_one_or_none()
        if cancel is None:
            raise JobLeaseLostError(lease)
        return bool(cancel)


# --- the worker's statements (each in a short transaction of the runner's) ----------------


async def claim_job(
    session: AsyncSession,
    table: Table,
    *,
    kinds: Sequence[str],
    owner: str,
    now: datetime,
    lease_for: timedelta,
) -> Job | None:
    """Take the next due job of ``kinds``: a queued one whose ``run_after`` has come, or a
    running one whose lease expired (its worker died: it resumes from its checkpoint).

    ``FOR UPDATE SKIP LOCKED``: concurrent workers never wait for, nor take, the same job.
    Each claim counts an attempt.
    """
    t = table
    due = or_(
        and_(t.c.state == JobState.QUEUED.value, t.c.run_after <= now),
        and_(t.c.state == JobState.RUNNING.value, t.c.lease_expires_at < now),
    )
    candidate = (
        select(t.c.id)
        .where(t.c.kind.in_(list(kinds)), due)
        .order_by(t.c.run_after, t.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    statement = (
        update(t)
        .where(t.c.id == candidate)
        .values(
            state=JobState.RUNNING.value,
            lease_owner=owner,
            lease_expires_at=now + lease_for,
            heartbeat_at=now,
            attempts=t.c.attempts + 1,
            started_at=func.coalesce(t.c.started_at, now),
            updated_at=now,
        )
        .returning(t)
    )
    row = (await session.execute(statement)).mappings().one_or_none()
    return None if row is None else to_job(row)


async def heartbeat_job(
    session: AsyncSession, table: Table, lease: JobLease, *, now: datetime, lease_for: timedelta
) -> bool | None:
    """Refresh the heartbeat and extend the lease; ``cancel_requested``, or None when the lease
    is lost."""
    t = table
    statement = (
        update(t)
        .where(_held(t, lease))
        .values(heartbeat_at=now, lease_expires_at=now + lease_for)
        .returning(t.c.cancel_requested)
    )
    cancel = (await session.execute(statement)).scalar_one_or_none()
    return None if cancel is None else bool(cancel)


async def finish_job(
    session: AsyncSession,
    table: Table,
    lease: JobLease,
    *,
    state: JobState,
    now: datetime,
    result: Mapping[str, Any] | None = None,
    error: Mapping[str, Any] | None = None,
) -> bool:
    """Put a held job in a final ``state``; False when the lease was lost meanwhile."""
    if state not in FINAL_STATES:
        raise ValueError(f"not a final state: {state}")
    t = table
    values: dict[str, Any] = {
        "state": state.value,
        "finished_at": now,
        "updated_at": now,
        "heartbeat_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "result": None if result is None else dict(result),
    }
    if error is not None:
        values["error"] = dict(error)
    if state is JobState.SUCCEEDED:
        values["done"] = func.coalesce(t.c.total, t.c.done)
    updated = await session.execute(update(t).where(_held(t, lease)).values(values))
    return bool(getattr(updated, "rowcount", 0))


async def retry_job(
    session: AsyncSession,
    table: Table,
    lease: JobLease,
    *,
    run_after: datetime,
    now: datetime,
    error: Mapping[str, Any],
) -> bool:
    """Queue a held job again for ``run_after`` (a failed attempt; its checkpoint stays)."""
    t = table
    statement = (
        update(t)
        .where(_held(t, lease))
        .values(
            state=JobState.QUEUED.value,
            run_after=run_after,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
            error=dict(error),
        )
    )
    return bool(getattr(await session.execute(statement), "rowcount", 0))


async def release_job(
    session: AsyncSession, table: Table, lease: JobLease, *, now: datetime
) -> bool:
    """Give a held job back at once without spending an attempt (the worker is stopping)."""
    t = table
    statement = (
        update(t)
        .where(_held(t, lease))
        .values(
            state=JobState.QUEUED.value,
            run_after=now,
            updated_at=now,
            lease_owner=None,
            lease_expires_at=None,
            attempts=func.greatest(t.c.attempts - 1, 0),
        )
    )
    return bool(getattr(await session.execute(statement), "rowcount", 0))


async def measure_running(
    session: AsyncSession, table: Table, *, kinds: Sequence[str], now: datetime
) -> dict[str, tuple[int, float]]:
    """Per kind: running jobs and the age in seconds of the stalest heartbeat among them."""
    t = table
    query = (
        select(t.c.kind, func.count(), func.min(t.c.heartbeat_at))
        .where(t.c.state == JobState.RUNNING.value, t.c.kind.in_(list(kinds)))
        .group_by(t.c.kind)
    )
    found: dict[str, tuple[int, float]] = {}
    for kind, count, oldest in (await session.execute(query)).all():
        age = 0.0 if oldest is None else max(0.0, (now - oldest).total_seconds())
        found[kind] = (int(count), age)
    return found


async def list_jobs(
    session: AsyncSession,
    table: Table,
    *,
    states: Sequence[str] = (),
    kind: str | None = None,
    org_id: uuid.UUID | None = None,
    limit: int = 50,
) -> list[Job]:
    """Jobs newest first (UUID v7 ids), filtered by state, kind and org."""
    t = table
    query = select(t).order_by(t.c.id.desc()).limit(limit)
    if states:
        query = query.where(t.c.state.in_(list(states)))
    if kind is not None:
        query = query.where(t.c.kind == kind)
    if org_id is not None:
        query = query.where(t.c.org_id == org_id)
    return [to_job(row) for row in (await session.execute(query)).mappings().all()]
