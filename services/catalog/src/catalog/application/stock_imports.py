"""Catalog's bulk stock import use cases in one place (the API's three and the job handler)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from catalog.application.ports import UnitOfWorkFactory
from catalog.application.use_cases.cancel_stock_import import CancelStockImport
from catalog.application.use_cases.get_stock_import import GetStockImport
from catalog.application.use_cases.run_stock_import import RunStockImport
from catalog.application.use_cases.start_stock_import import StartStockImport
from shared.clock import Clock

__all__ = ["StockImportUseCases", "stock_import_use_cases"]


@dataclass(frozen=True, slots=True)
class StockImportUseCases:
    """Start, read and cancel imports (the API); run one (the worker's job handler)."""

    start: StartStockImport
    get: GetStockImport
    cancel: CancelStockImport
    run: RunStockImport


def stock_import_use_cases(
    uow: UnitOfWorkFactory,
    clock: Clock,
    new_id: Callable[[], uuid.UUID],
    *,
    batch_size: int = 200,
) -> StockImportUseCases:
    """Wire the import use cases on ``uow`` (real adapters or fakes)."""
    return StockImportUseCases(
        start=StartStockImport(uow, clock, new_id),
        get=GetStockImport(uow),
        cancel=CancelStockImport(uow, clock),
        run=RunStockImport(uow, clock, batch_size=batch_size),
    )
