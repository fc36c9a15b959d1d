"""Catalog's bulk stock import routes (contract: catalog.yaml, ``/stock-imports``).

``POST /stock-imports`` answers ``202`` with the job and its ``Location`` as soon as the whole
CSV checked out and the job is queued; ``GET`` shows state and percent; ``POST .../cancel``
asks the job to stop. The import's own rules (the CSV, the size) are the domain's; the body
limit below is the contract's ``maxLength``, enforced by pydantic before anything is parsed.

(No ``from __future__ import annotations``: FastAPI must resolve the local ``Caller`` alias.)
"""

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from catalog.application.stock_imports import StockImportUseCases
from shared.auth.dependencies import BearerAuth
from shared.auth.principal import Principal
from shared.http.idempotency import IdempotencyKey, idempotent_response
from shared.idempotency import IdempotentResponse, request_fingerprint
from shared.jobs import Job, JobState

__all__ = ["StockImportBody", "StockImportRequest", "build_stock_import_router"]

MAX_CSV_CHARS = 900_000  # the contract's maxLength: inside the 1 MiB body limit once JSON-escaped


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StockImportRequest(_Body):
    """POST /stock-imports."""

    csv: Annotated[str, Field(min_length=1, max_length=MAX_CSV_CHARS)]
    reason: Annotated[str, Field(min_length=1, max_length=200)] = "bulk import"


class LineErrorBody(_Body):
    """A line that was not applied."""

    line: int
    sku: str
    code: str
    message: str


class ResultBody(_Body):
    """What the import did."""

    rows: int
    applied: int
    failed: int
    errors: list[LineErrorBody]
    errors_truncated: bool


class ErrorBody(_Body):
    """Why the last attempt failed."""

    code: str
    message: str


class StockImportBody(_Body):
    """A bulk stock import (a job)."""

    id: uuid.UUID
    state: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    percent: Annotated[int, Field(ge=0, le=100)]
    rows_total: int
    rows_processed: int
    attempts: int
    cancel_requested: bool
    created_by: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    result: ResultBody | None
    error: ErrorBody | None

    @classmethod
    def of(cls, job: Job) -> "StockImportBody":
        """The body of an import's job."""
        error = None
        if job.error is not None and job.state is not JobState.SUCCEEDED:
            error = ErrorBody(code=str(job.error["code"]), message=str(job.error["message"]))
        return cls(
            id=job.id,
            state=job.state.value,
            percent=job.percent,
            rows_total=job.total or 0,
            rows_processed=job.done,
            attempts=job.attempts,
            cancel_requested=job.cancel_requested,
            created_by=job.created_by,
            created_at=job.created_at,
            started_at=job.started_at,
            heartbeat_at=job.heartbeat_at,
            finished_at=job.finished_at,
            result=None if job.result is None else ResultBody.model_validate(job.result),
            error=error,
        )


def _json(job: Job) -> dict[str, Any]:
    return StockImportBody.of(job).model_dump(mode="json")


def build_stock_import_router(imports: StockImportUseCases, auth: BearerAuth) -> APIRouter:
    """Return the router of the stock import operations."""
    router = APIRouter()
    Caller = Annotated[Principal, Depends(auth)]

    @router.post(
        "/stock-imports",
        operation_id="importStock",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=StockImportBody,
        tags=["stock"],
    )
    async def import_stock(
        body: StockImportRequest, caller: Caller, idempotency_key: IdempotencyKey
    ) -> JSONResponse:
        started = await imports.start(
            caller,
            org_id=caller.org_id,
            csv=body.csv,
            default_reason=body.reason,
            key=idempotency_key,
            fingerprint=request_fingerprint("POST", "/stock-imports", body.model_dump(mode="json")),
            render=lambda job: IdempotentResponse(202, _json(job)),
        )
        return idempotent_response(
            started.response,
            replayed=started.replayed,
            headers={"Location": f"/stock-imports/{started.response.body['id']}"},
        )

    @router.get(
        "/stock-imports/{import_id}",
        operation_id="getStockImport",
        response_model=StockImportBody,
        tags=["stock"],
    )
    async def get_stock_import(import_id: uuid.UUID, caller: Caller) -> StockImportBody:
        job = await imports.get(caller, org_id=caller.org_id, import_id=import_id)
        return StockImportBody.of(job)

    @router.post(
        "/stock-imports/{import_id}/cancel",
        operation_id="cancelStockImport",
        status_code=status.HTTP_202_ACCEPTED,
        response_model=StockImportBody,
        tags=["stock"],
    )
    async def cancel_stock_import(import_id: uuid.UUID, caller: Caller) -> StockImportBody:
        job = await imports.cancel(caller, org_id=caller.org_id, import_id=import_id)
        return StockImportBody.of(job)

    return router
