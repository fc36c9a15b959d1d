"""Cancel a stock import: at once while queued, after its current batch while running."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.application.use_cases.start_stock_import import IMPORT_KIND
from catalog.domain.stock_import import StockImportNotFoundError
from shared.auth.principal import Principal
from shared.clock import Clock
from shared.jobs import Job

__all__ = ["CancelStockImport"]


class CancelStockImport:
    """Writers cancel their org's imports. Naturally idempotent: cancelling again, or a finished
    import, changes nothing and answers the job as it is; lines already applied stay applied.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, import_id: uuid.UUID
    ) -> Job:
        """Request the cancel; the job as it is now.

        Raises:
            StockImportNotFoundError: no such import in ``org_id``.
        """
        POLICY.require(principal, "stock.write", org_id=org_id, not_found=StockImportNotFoundError)
        async with self._uow() as uow:
            job = await uow.jobs.request_cancel(
                job_id=import_id, kind=IMPORT_KIND, org_id=org_id, now=self._clock.now()
            )
            if job is None:
                raise StockImportNotFoundError()
            await uow.commit()
        return job
