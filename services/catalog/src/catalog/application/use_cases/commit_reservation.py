"""Commit an order's reservation (on ``order.confirmed``): the held units leave the warehouse.

Idempotent: committing twice changes nothing the second time and answers again. A released or
missing reservation cannot be committed (``reservation.not_held``, a dead letter to look at).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from catalog.application.ports import UnitOfWork, UnitOfWorkFactory
from catalog.domain.errors import ReservationNotHeldError
from catalog.domain.reservation import Reservation
from shared.clock import Clock

__all__ = ["CommitReservation", "CommitReservationInput"]


@dataclass(frozen=True, slots=True)
class CommitReservationInput:
    """Which order, and the id of the event that asked."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    causation_id: uuid.UUID


class CommitReservation:
    """On-hand and reserved both drop by the held quantities."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, command: CommitReservationInput) -> Reservation:
        """Run in a transaction of its own."""
        async with self._uow() as uow:
            reservation = await self.apply(uow, command)
            await uow.commit()
        return reservation

    async def apply(self, uow: UnitOfWork, command: CommitReservationInput) -> Reservation:
        """Run inside ``uow``; return the committed reservation."""
        reservation = await uow.reservations.get_by_order(
            org_id=command.org_id, order_id=command.order_id, for_update=True
        )
        if reservation is None:
            raise ReservationNotHeldError(details={"order_id": str(command.order_id)})
        skus = [line.sku for line in reservation.lines]
        locked = await uow.stock.lock_by_skus(org_id=command.org_id, skus=skus)
        stock = {sku: item for sku, (_product, item) in locked.items()}
        before = reservation.status
        reservation.commit(stock, command.causation_id, self._clock.now())
        if reservation.status is not before:
            for item in stock.values():
                await uow.stock.save(item)
            await uow.reservations.save(reservation)
        uow.record(reservation.pull_events())
        return reservation
