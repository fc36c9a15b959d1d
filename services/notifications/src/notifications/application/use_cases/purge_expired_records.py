"""Retention of the delivery log: delete finished deliveries and deleted endpoints older than the
retention period, in bounded batches (one short transaction each)."""

from __future__ import annotations

from dataclasses import dataclass

from notifications.application.ports import UnitOfWorkFactory
from notifications.application.rules import DeliveryRules
from shared.clock import Clock

__all__ = ["PurgeExpiredRecords", "PurgeReport"]


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """How many rows went."""

    deliveries: int
    endpoints: int


class PurgeExpiredRecords:
    """Notifications' housekeeping runs it now and then (``notifications.housekeeping``)."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock, rules: DeliveryRules) -> None:
        self._uow, self._clock, self._rules = uow, clock, rules

    async def __call__(self, *, max_batches: int = 100) -> PurgeReport:
        """Purge until nothing is left or ``max_batches`` batches of each kind ran."""
        cutoff = self._clock.now() - self._rules.retention
        batch = self._rules.purge_batch
        deliveries = endpoints = 0
        for _ in range(max_batches):
            async with self._uow() as uow:
                deleted = await uow.housekeeping.purge_deliveries(
                    finished_before=cutoff, limit=batch
                )
                await uow.commit()
            deliveries += deleted
            if deleted < batch:
                break
        for _ in range(max_batches):
            async with self._uow() as uow:
                deleted = await uow.housekeeping.purge_endpoints(deleted_before=cutoff, limit=batch)
                await uow.commit()
            endpoints += deleted
            if deleted < batch:
                break
        return PurgeReport(deliveries, endpoints)
