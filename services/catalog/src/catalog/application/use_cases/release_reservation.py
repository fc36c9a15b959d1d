"""Release an order's reservation (compensation on ``order.cancel_requested``).

Idempotent and always answered: releasing twice changes nothing the second time, and an order
with nothing held still gets a ``stock.released`` (no lines) so the saga can move on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from catalog.application.ports import UnitOfWork, UnitOfWorkFactory
from catalog.domain.events import StockReleased
from catalog.domain.reservation import Reservation
from shared.clock import Clock

__all__ = ["ReleaseReservation", "ReleaseReservationInput"]


@dataclass(frozen=True, slots=True)
class ReleaseReservationInput:
    """Which order, and the id of the event that asked."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    causation_id: uuid.UUID


class ReleaseReservation:
    """Make the units held for an order available again."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(self, command: ReleaseReservationInput) -> Reservation | None:
        """Run in a transaction of its own."""
        async with self._uow() as uow:
            reservation = await self.apply(uow, command)
            await uow.commit()
        return reservation

    async def apply(self, uow: UnitOfWork, command: ReleaseReservationInput) -> Reservation | None:
        """Run inside ``uow``; return the reservation (None when nothing was ever held)."""
        now = self._clock.now()
        reservation = await uow.reservations.get_by_order(
            org_id=command.org_id, order_id=command.order_id, for_update=True
        )
        if reservation is None:
            uow.record(
                [
                    StockReleased(
                        org_id=command.org_id,
                        occurred_at=now,
                        order_id=command.order_id,
                        reservation_id=None,
                        causation_id=command.causation_id,
                        lines=(),
                    )
                ]
            )
            return None
        skus = [line.sku for line in reservation.lines]
        locked = await uow.stock.lock_by_skus(org_id=command.org_id, skus=skus)
        stock = {sku: item for sku, (_product, item) in locked.items()}
        before = reservation.status
        reservation.release(stock, command.causation_id, now)
        if reservation.status is not before:
            for item in stock.values():
                await uow.stock.save(item)
            await uow.reservations.save(reservation)
        uow.record(reservation.pull_events())
        return reservation
