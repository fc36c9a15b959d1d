"""Read a stock import of the caller's org: its state, percent complete and result."""

from __future__ import annotations

import uuid

from catalog.application.permissions import POLICY
from catalog.application.ports import UnitOfWorkFactory
from catalog.application.use_cases.start_stock_import import IMPORT_KIND
from catalog.domain.stock_import import StockImportNotFoundError
from shared.auth.principal import Principal
from shared.jobs import Job

__all__ = ["GetStockImport"]


class GetStockImport:
    """Every member follows their org's imports; another org's import is not found."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, import_id: uuid.UUID
    ) -> Job:
        """The import's job.

        Raises:
            StockImportNotFoundError: no such import in ``org_id``.
        """
        POLICY.require(principal, "catalog.read", org_id=org_id, not_found=StockImportNotFoundError)
        async with self._uow() as uow:
            job = await uow.jobs.get(job_id=import_id, kind=IMPORT_KIND, org_id=org_id)
        if job is None:
            raise StockImportNotFoundError()
        return job
