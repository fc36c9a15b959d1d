"""Start a bulk stock import: check the whole CSV, then queue it as a job (202)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.domain.stock_import import StockImportNotFoundError, parse_stock_csv
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.idempotency import IdempotentResponse
from shared.jobs import Job

__all__ = ["IMPORT_KIND", "StartStockImport", "StartedImport"]

IMPORT_KIND = "catalog.import_stock"
"""The kind of catalog's stock-import jobs (their ``jobs_total{job}`` label)."""
_OPERATION = "import_stock"
_MAX_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class StartedImport:
    """The response to send (``replayed`` when an earlier request with the key stored it)."""

    response: IdempotentResponse
    replayed: bool


class StartStockImport:
    """Writers import adjustments of their org's stock in bulk. The file is checked whole
    before anything is queued, and queuing is idempotent per Idempotency-Key: the same key and
    body answers the first job again, never a second one.
    """

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, new_id: Callable[[], uuid.UUID]
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        csv: str,
        default_reason: str,
        key: str,
        fingerprint: str,
        render: Callable[[Job], IdempotentResponse],
    ) -> StartedImport:
        """Queue the import; ``render`` makes the stored (and sent) response of the job.

        Raises:
            StockImportInvalidError: the CSV breaks a rule (422, nothing queued).
            IdempotencyKeyReusedError: the key was used with another body (422).
            IdempotencyInProgressError: the same request is still in flight (409).
        """
        POLICY.require(principal, "stock.write", org_id=org_id, not_found=StockImportNotFoundError)
        lines = parse_stock_csv(csv, default_reason=default_reason)
        scope = f"{org_id}:{_OPERATION}"
        async with self._uow() as uow:
            stored = await uow.idempotency.claim(scope=scope, key=key, fingerprint=fingerprint)
            if stored is not None:
                return StartedImport(stored, replayed=True)
            job = await uow.jobs.enqueue(
                job_id=self._new_id(),
                kind=IMPORT_KIND,
                org_id=org_id,
                params={"lines": [line.to_json() for line in lines]},
                total=len(lines),
                created_by=principal.user_id,
                max_attempts=_MAX_ATTEMPTS,
                now=self._clock.now(),
            )
            response = render(job)
            await uow.idempotency.complete(scope=scope, key=key, response=response)
            await uow.commit()
        return StartedImport(response, replayed=False)
