"""``ordo jobs list | show | cancel``: the jobs (shared.jobs) of every service that has them.

Each service keeps its jobs in its own database's ``jobs`` table; these commands read and
change them through the chassis' own statements (:mod:`shared.jobs.sqla`), so a cancel here
means what ``POST /v1/stock-imports/{id}/cancel`` means: a queued job is cancelled at once, a
running one stops after its current step. A database that does not answer, or that has no
``jobs`` table, is reported and skipped.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import MetaData, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from ordo_ops.stack import DB_SERVICES, Stack
from shared.db import create_engine, create_session_factory
from shared.jobs import Job, JobState
from shared.jobs.sqla import SqlaJobRecords, jobs_table, list_jobs
from shared.settings import DatabaseSettings

__all__ = ["ServiceJob", "cancel_job", "find_job", "find_jobs", "jobs_app"]

jobs_app = typer.Typer(
    help="Long-running jobs (shared.jobs) of every service.", no_args_is_help=True
)
console = Console()
_TABLE = jobs_table(MetaData())

JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON instead of tables")]
ServiceOpt = Annotated[
    list[str] | None, typer.Option("--service", "-s", help="only this service (repeatable)")
]


@dataclass(frozen=True, slots=True)
class ServiceJob:
    """A job and the service whose database holds it."""

    service: str
    job: Job

    def summary(self, now: datetime) -> dict[str, Any]:
        """The job as plain data (its params left out: they can be large)."""
        job = self.job
        age = job.heartbeat_age_s(now)
        return {
            "service": self.service,
            "id": str(job.id),
            "kind": job.kind,
            "org_id": None if job.org_id is None else str(job.org_id),
            "state": job.state.value,
            "percent": job.percent,
            "done": job.done,
            "total": job.total,
            "attempts": job.attempts,
            "max_attempts": job.max_attempts,
            "cancel_requested": job.cancel_requested,
            "heartbeat_age_s": None if age is None else round(age, 1),
            "lease_owner": job.lease_owner,
            "created_at": job.created_at.isoformat(),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "result": job.result,
            "error": job.error,
        }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def _engines(
    stack: Stack, services: Sequence[str] | None
) -> list[tuple[str, AsyncEngine | None, str | None]]:
    """(service, engine or None, why not) for each chosen service that keeps jobs."""
    found: list[tuple[str, AsyncEngine | None, str | None]] = []
    for service in services or DB_SERVICES:
        engine = _engine(stack.database(service))
        try:
            async with engine.connect() as conn:
                has = await conn.scalar(text("SELECT to_regclass('jobs') IS NOT NULL"))
        except (OSError, SQLAlchemyError) as exc:
            await engine.dispose()
            found.append((service, None, type(exc).__name__))
            continue
        if has:
            found.append((service, engine, None))
        else:
            await engine.dispose()
    return found


def _engine(database: DatabaseSettings) -> AsyncEngine:
    return create_engine(
        database.model_copy(update={"pool_size": 1, "max_overflow": 0}),
        application_name="ordo-ops",
    )


async def find_jobs(
    stack: Stack,
    *,
    services: Sequence[str] | None = None,
    states: Sequence[str] = (),
    kind: str | None = None,
    limit: int = 50,
) -> tuple[list[ServiceJob], dict[str, str]]:
    """Jobs newest first across services, and the services that could not be read (why)."""
    rows: list[ServiceJob] = []
    unreadable: dict[str, str] = {}
    for service, engine, why in await _engines(stack, services):
        if engine is None:
            unreadable[service] = why or "unreachable"
            continue
        try:
            async with create_session_factory(engine)() as session:
                found = await list_jobs(session, _TABLE, states=states, kind=kind, limit=limit)
            rows.extend(ServiceJob(service, job) for job in found)
        finally:
            await engine.dispose()
    rows.sort(key=lambda row: row.job.id, reverse=True)  # UUID v7: newest first
    return rows[:limit], unreadable


async def find_job(
    stack: Stack, job_id: uuid.UUID, services: Sequence[str] | None = None
) -> ServiceJob | None:
    """The job with ``job_id`` in whichever service holds it."""
    for service, engine, _why in await _engines(stack, services):
        if engine is None:
            continue
        try:
            async with create_session_factory(engine)() as session:
                job = await SqlaJobRecords(session, _TABLE).get(job_id=job_id)
        finally:
            await engine.dispose()
        if job is not None:
            return ServiceJob(service, job)
    return None


async def cancel_job(
    stack: Stack, job_id: uuid.UUID, services: Sequence[str] | None = None
) -> ServiceJob | None:
    """Request the cancel of ``job_id`` (see the module); the job as it is then."""
    for service, engine, _why in await _engines(stack, services):
        if engine is None:
            continue
        try:
            async with create_session_factory(engine).begin() as session:
                job = await SqlaJobRecords(session, _TABLE).request_cancel(
                    job_id=job_id, kind=None, org_id=None, now=datetime.now(UTC)
                )
        finally:
            await engine.dispose()
        if job is not None:
            return ServiceJob(service, job)
    return None


_STATE_STYLE = {
    "queued": "cyan",
    "running": "yellow",
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
}


@jobs_app.command("list")
def list_command(
    service: ServiceOpt = None,
    state: Annotated[
        list[str] | None, typer.Option("--state", help="queued, running, ... (repeatable)")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. catalog.import_stock")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="show at most this many")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List jobs, newest first: state, percent complete, attempts, heartbeat age."""
    allowed = {s.value for s in JobState}
    if state and not set(state) <= allowed:
        raise typer.BadParameter(f"--state is one of {', '.join(sorted(allowed))}")
    rows, unreadable = asyncio.run(
        find_jobs(Stack.discover(), services=service, states=state or (), kind=kind, limit=limit)
    )
    now = datetime.now(UTC)
    if as_json:
        print(json.dumps({"jobs": [r.summary(now) for r in rows], "unreadable": unreadable}))
        return
    table = Table(
        "service", "id", "kind", "state", "%", "done/total", "attempts", "heartbeat", "created",
        title=f"jobs ({len(rows)} shown)",
    )  # fmt: skip
    for row in rows:
        s = row.summary(now)
        style = _STATE_STYLE.get(s["state"], "white")
        beat = "-" if s["heartbeat_age_s"] is None else f"{s['heartbeat_age_s']:.0f}s ago"
        table.add_row(
            s["service"], s["id"], s["kind"], f"[{style}]{s['state']}[/]", str(s["percent"]),
            f"{s['done']}/{s['total'] if s['total'] is not None else '?'}",
            f"{s['attempts']}/{s['max_attempts']}", beat, s["created_at"][:19],
        )  # fmt: skip
    console.print(table)
    for name, why in unreadable.items():
        console.print(f"[red]{name}: not readable ({why})[/]")


@jobs_app.command("show")
def show_command(
    job_id: Annotated[uuid.UUID, typer.Argument(help="the job's id")],
    service: ServiceOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="a progress bar until the job finishes")
    ] = False,
    interval: Annotated[float, typer.Option(help="seconds between polls with --follow")] = 1.0,
    as_json: JsonOpt = False,
) -> None:
    """Show one job: state, progress, heartbeat, result or error (``--follow`` to watch it)."""
    stack = Stack.discover()
    row = asyncio.run(find_job(stack, job_id, service))
    if row is None:
        console.print(f"[red]no job {job_id}[/]")
        raise typer.Exit(1)
    if follow and not as_json:
        row = _follow(stack, row, interval)
    shown = row.summary(datetime.now(UTC))
    if as_json:
        print(json.dumps(shown))
        return
    console.print_json(json.dumps(shown))
    if row.job.state is JobState.FAILED:
        raise typer.Exit(2)


def _follow(stack: Stack, row: ServiceJob, interval: float) -> ServiceJob:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
    )
    with Progress(*columns, TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task(f"{row.job.kind} {row.job.state.value}", total=100)
        while True:
            progress.update(
                task,
                completed=row.job.percent,
                description=f"{row.job.kind} {row.job.state.value}",
            )
            if row.job.finished:
                return row
            time.sleep(interval)
            again = asyncio.run(find_job(stack, row.job.id, [row.service]))
            row = again or row


@jobs_app.command("cancel")
def cancel_command(
    job_id: Annotated[uuid.UUID, typer.Argument(help="the job's id")],
    service: ServiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Cancel a job: a queued one at once, a running one after its current step."""
    row = asyncio.run(cancel_job(Stack.discover(), job_id, service))
    if row is None:
        console.print(f"[red]no job {job_id}[/]")
        raise typer.Exit(1)
    shown = row.summary(datetime.now(UTC))
    if as_json:
        print(json.dumps(shown))
        return
    state = shown["state"]
    note = "cancelled" if state == "cancelled" else f"{state}: cancel requested"
    if row.job.finished and state != "cancelled":
        note = f"already {state}: nothing to cancel"
    console.print(f"{row.service} job {job_id}: {note}")
