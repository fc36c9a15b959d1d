"""Bulk stock import without IO: the CSV's rules, the report, and the handler on fakes
(resume from a checkpoint after a lost batch, per-line refusals, cancel between batches)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Self

import pytest

from catalog.application.facade import CatalogUseCases
from catalog.application.stock_imports import stock_import_use_cases
from catalog.application.use_cases.create_product import CreateProductInput
from catalog.application.use_cases.start_stock_import import IMPORT_KIND
from catalog.domain.model import Money
from catalog.domain.stock_import import (
    ImportLine,
    StockImportInvalidError,
    StockImportReport,
    parse_stock_csv,
)
from shared.clock import FrozenClock
from shared.errors import InfrastructureError
from shared.jobs import Job, JobCancelledError, JobLease, JobRun, JobState

from .conftest import FakeUnitOfWork, Store, principal_of


def parse(text: str) -> list[ImportLine]:
    return parse_stock_csv(text, default_reason="bulk import")


def test_a_csv_becomes_lines_numbered_as_in_the_file() -> None:
    lines = parse("sku,delta,reason\nA-1,5,received\n\nB.2,-3,\nC_3,+7,count\n")
    assert lines == [
        ImportLine(2, "A-1", 5, "received"),
        ImportLine(4, "B.2", -3, "bulk import"),
        ImportLine(5, "C_3", 7, "count"),
    ]
    assert parse("SKU,Delta\nX,1")[0] == ImportLine(2, "X", 1, "bulk import")


@pytest.mark.parametrize(
    "text",
    ["", "sku;delta\nA;1", "delta,sku\n1,A", "sku,delta\n", "sku,delta,reason,extra\nA,1,x,y"],
)
def test_a_file_without_the_header_or_lines_is_refused(text: str) -> None:
    with pytest.raises(StockImportInvalidError):
        parse(text)


def test_every_bad_line_is_named_and_nothing_is_kept() -> None:
    text = "sku,delta,reason\nGOOD,1,ok\n-bad,2,x\nB,0,x\nC,abc,x\nD,1," + "r" * 201 + "\nE\n"
    with pytest.raises(StockImportInvalidError) as raised:
        parse(text)
    paths = [e.path for e in raised.value.errors]
    assert paths == [
        "body.csv.line3.sku",
        "body.csv.line4.delta",
        "body.csv.line5.delta",
        "body.csv.line6.reason",
        "body.csv.line7",
    ]
    assert raised.value.code == "stock_import.invalid_csv"


def test_the_line_limit_holds() -> None:
    text = "sku,delta\n" + "A,1\n" * 11
    assert len(parse_stock_csv(text, default_reason="r", max_lines=11)) == 11
    with pytest.raises(StockImportInvalidError):
        parse_stock_csv(text + "A,1\n", default_reason="r", max_lines=11)


def test_the_report_round_trips_through_its_checkpoint() -> None:
    report = StockImportReport(next_index=4, applied=3)
    report.rejected(ImportLine(9, "Z", 1, "r"), InfrastructureError("x"))
    again = StockImportReport.from_checkpoint(report.to_checkpoint())
    assert again == report
    assert again.result(10)["failed"] == 1
    assert not again.result(10)["errors_truncated"]


# --- the handler on fakes ---------------------------------------------------------------


class FakeJobRecords:
    """One job's row; progress written in a transaction lands only when it commits."""

    def __init__(self, jobs: dict[uuid.UUID, Job]) -> None:
        self.jobs = jobs
        self.staged: dict[uuid.UUID, Job] = {}

    async def save_progress(
        self,
        lease: JobLease,
        *,
        checkpoint: Mapping[str, Any],
        done: int,
        now: Any,
        lease_for: timedelta,
    ) -> bool:
        job = self.jobs[lease.job_id]
        self.staged[job.id] = Job(**{**_fields(job), "checkpoint": dict(checkpoint), "done": done})
        return job.cancel_requested


def _fields(job: Job) -> dict[str, Any]:
    return {name: getattr(job, name) for name in Job.__slots__}


class JobsUnitOfWork(FakeUnitOfWork):
    """The fake unit of work with a jobs table; ``fail_commit`` loses the Nth commit."""

    jobs_store: dict[uuid.UUID, Job]
    fail_commit: int | None = None
    commits_seen = 0

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.jobs = FakeJobRecords(self.jobs_store)
        return self

    async def commit(self) -> None:
        type(self).commits_seen += 1
        if type(self).commits_seen == self.fail_commit:
            raise InfrastructureError("the worker died")
        await super().commit()
        self.jobs_store.update(self.jobs.staged)


async def stocked(catalog: CatalogUseCases, org_id: uuid.UUID, skus: list[str]) -> None:
    writer = principal_of(org_id)
    for sku in skus:
        await catalog.create_product(
            writer, CreateProductInput(org_id=org_id, sku=sku, name=sku, price=Money(100, "EUR"))
        )
        await catalog.change_stock.set(writer, org_id=org_id, sku=sku, on_hand=10)


def job_of(org_id: uuid.UUID, lines: list[ImportLine], clock: FrozenClock) -> Job:
    now = clock.now()
    return Job(
        id=uuid.uuid4(),
        kind=IMPORT_KIND,
        org_id=org_id,
        state=JobState.RUNNING,
        params={"lines": [line.to_json() for line in lines]},
        total=len(lines),
        done=0,
        checkpoint=None,
        result=None,
        error=None,
        attempts=1,
        max_attempts=5,
        cancel_requested=False,
        created_by=uuid.uuid4(),
        created_at=now,
        updated_at=now,
        run_after=now,
    )


def run_of(job: Job, clock: FrozenClock) -> JobRun:
    return JobRun(
        job=job, lease=JobLease(job.id, "w"), clock=clock, lease_for=timedelta(seconds=30)
    )


async def test_a_lost_batch_is_applied_once_when_the_job_resumes(
    store: Store, clock: FrozenClock, org_id: uuid.UUID, catalog: CatalogUseCases
) -> None:
    await stocked(catalog, org_id, ["A", "B", "C"])
    events_before = len(store.events)
    lines = [ImportLine(n + 2, "ABC"[n % 3], 1, "r") for n in range(25)]
    job = job_of(org_id, lines, clock)
    jobs = {job.id: job}
    uow_class = type(
        "Uow", (JobsUnitOfWork,), {"jobs_store": jobs, "fail_commit": 3, "commits_seen": 0}
    )
    imports = stock_import_use_cases(
        lambda: uow_class(store, clock), clock, uuid.uuid4, batch_size=10
    )
    with pytest.raises(InfrastructureError):
        await imports.run(run_of(job, clock))
    checkpoint = jobs[job.id].checkpoint
    assert checkpoint is not None
    assert checkpoint["next_index"] == 20  # two batches committed, the third lost
    result = await imports.run(run_of(jobs[job.id], clock))
    assert result == {
        "rows": 25,
        "applied": 25,
        "failed": 0,
        "errors": [],
        "errors_truncated": False,
    }
    on_hand = sorted(s.on_hand for s in store.stock.values())
    assert on_hand == [18, 18, 19]  # 10 + 9, 8 and 8: each line once
    assert len(store.events) - events_before == 25


async def test_refused_lines_are_reported_and_the_rest_applies(
    store: Store, clock: FrozenClock, org_id: uuid.UUID, catalog: CatalogUseCases
) -> None:
    await stocked(catalog, org_id, ["A"])
    lines = [
        ImportLine(2, "A", -4, "r"),
        ImportLine(3, "NOPE", 1, "r"),
        ImportLine(4, "A", -7, "r"),
    ]
    job = job_of(org_id, lines, clock)
    uow_class = type("Uow", (JobsUnitOfWork,), {"jobs_store": {job.id: job}, "commits_seen": 0})
    imports = stock_import_use_cases(lambda: uow_class(store, clock), clock, uuid.uuid4)
    result = await imports.run(run_of(job, clock))
    assert (result["applied"], result["failed"]) == (1, 2)
    assert [(e["line"], e["code"]) for e in result["errors"]] == [
        (3, "product.not_found"),
        (4, "stock.invalid_quantity"),
    ]
    assert [s.on_hand for s in store.stock.values()] == [6]


async def test_a_cancel_stops_the_import_between_batches(
    store: Store, clock: FrozenClock, org_id: uuid.UUID, catalog: CatalogUseCases
) -> None:
    await stocked(catalog, org_id, ["A"])
    lines = [ImportLine(n + 2, "A", 1, "r") for n in range(30)]
    job = job_of(org_id, lines, clock)
    jobs = {job.id: job}
    jobs[job.id] = Job(**{**_fields(job), "cancel_requested": True})
    uow_class = type("Uow", (JobsUnitOfWork,), {"jobs_store": jobs, "commits_seen": 0})
    imports = stock_import_use_cases(
        lambda: uow_class(store, clock), clock, uuid.uuid4, batch_size=10
    )
    with pytest.raises(JobCancelledError) as raised:
        await imports.run(run_of(job, clock))  # learns of the cancel with its first batch
    assert raised.value.result["applied"] == 10
    assert [s.on_hand for s in store.stock.values()] == [20]
