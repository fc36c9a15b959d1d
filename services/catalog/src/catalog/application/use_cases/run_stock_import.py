"""Apply a queued stock import, batch by batch, each line exactly once (the job's handler)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from catalog.application.ports import UnitOfWork, UnitOfWorkFactory
from catalog.domain.errors import InsufficientStockError, InvalidQuantityError, ProductNotFoundError
from catalog.domain.model import Product, StockItem
from catalog.domain.stock_import import ImportLine, StockImportReport, batches
from shared.clock import Clock
from shared.jobs import JobRun

__all__ = ["RunStockImport"]


class RunStockImport:
    """Each line is a stock adjustment of the import's org, by whoever started the import, with
    the same rules and events (``stock.level_changed``) as one made through the API.

    Lines apply in batches of ``batch_size``, each batch in one transaction that also writes
    the job's checkpoint (the next line and the report so far): a worker killed mid-batch
    loses the whole batch, and the next attempt starts at the checkpoint, so no line is applied
    twice or skipped. A line the stock refuses (unknown SKU, below what is reserved) is
    reported and the import goes on. Within a batch, products and their stock rows are locked
    in SKU order, product first, as every other stock change locks them.
    """

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, *, batch_size: int = 200) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._uow, self._clock, self._batch = uow, clock, batch_size

    async def __call__(self, run: JobRun) -> Mapping[str, Any]:
        """Apply the lines from the checkpoint on; the import's result."""
        job = run.job
        if job.org_id is None or job.created_by is None:
            raise ValueError(f"stock import {job.id} has no org or author")
        lines = [ImportLine.from_json(value) for value in job.params["lines"]]
        report = StockImportReport.from_checkpoint(run.checkpoint)
        for indexes in batches(lines, report.next_index, self._batch):
            run.stop_if_asked(report.result(len(lines)))
            # A copy: if the transaction fails, the report must stay at the last commit.
            attempt = StockImportReport.from_checkpoint(report.to_checkpoint())
            async with self._uow() as uow:
                batch = [lines[i] for i in indexes]
                await self._apply(uow, job.org_id, job.created_by, batch, attempt)
                attempt.next_index = indexes.stop
                await run.save_progress(
                    uow.jobs, checkpoint=attempt.to_checkpoint(), done=indexes.stop
                )
                await uow.commit()
            report = attempt
        return report.result(len(lines))

    async def _apply(
        self,
        uow: UnitOfWork,
        org_id: uuid.UUID,
        by: uuid.UUID,
        batch: Sequence[ImportLine],
        report: StockImportReport,
    ) -> None:
        locked = await self._lock(uow, org_id, {line.sku for line in batch})
        now = self._clock.now()
        changed: dict[str, tuple[Product, StockItem]] = {}
        for line in batch:
            level = locked.get(line.sku)
            if level is None:
                report.rejected(line, ProductNotFoundError())
                continue
            product, stock = level
            try:
                stock.change_on_hand(
                    product,
                    on_hand=stock.on_hand + line.delta,
                    reason=line.reason,
                    set_=False,
                    by=by,
                    now=now,
                )
            except (InsufficientStockError, InvalidQuantityError) as exc:
                report.rejected(line, exc)
                continue
            report.applied += 1
            changed[line.sku] = level
        for product, stock in changed.values():
            await uow.products.save(product)
            await uow.stock.save(stock)
            uow.record(stock.pull_events())

    @staticmethod
    async def _lock(
        uow: UnitOfWork, org_id: uuid.UUID, skus: set[str]
    ) -> dict[str, tuple[Product, StockItem]]:
        locked: dict[str, tuple[Product, StockItem]] = {}
        for sku in sorted(skus):
            product = await uow.products.get_by_sku(org_id=org_id, sku=sku, for_update=True)
            if product is None:
                continue
            stock = await uow.stock.get(org_id=org_id, product_id=product.id, for_update=True)
            if stock is not None:
                locked[sku] = (product, stock)
        return locked
