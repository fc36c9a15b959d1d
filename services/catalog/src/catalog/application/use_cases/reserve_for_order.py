"""Reserve an order's lines (saga step on ``order.placed``): all of them or none.

Catalog holds at most one outcome per order: a repeated ``order.placed`` answers with the first
outcome again (the held reservation, or the same refusal even if stock arrived meanwhile).
Stock rows are locked in SKU order, so concurrent orders on the same SKUs queue instead of
overselling or deadlocking.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from catalog.application.ports import UnitOfWork, UnitOfWorkFactory
from catalog.domain.model import RequestedLine
from catalog.domain.reservation import Reservation, reserve
from shared.clock import Clock

__all__ = ["ReserveForOrder", "ReserveForOrderInput"]


@dataclass(frozen=True, slots=True)
class ReserveForOrderInput:
    """The placed order, and the id of the event that asked (``causation_id``)."""

    org_id: uuid.UUID
    order_id: uuid.UUID
    currency: str
    lines: Sequence[RequestedLine]
    causation_id: uuid.UUID


class ReserveForOrder:
    """Hold and price every line, or reject the order with reasons (``stock.rejected``)."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, new_id: Callable[[], uuid.UUID]
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id

    async def __call__(self, command: ReserveForOrderInput) -> Reservation | None:
        """Run in a transaction of its own; return the held reservation (None if rejected)."""
        async with self._uow() as uow:
            reservation = await self.apply(uow, command)
            await uow.commit()
        return reservation

    async def apply(self, uow: UnitOfWork, command: ReserveForOrderInput) -> Reservation | None:
        """Run inside ``uow`` (the consumer's, committed together with the inbox claim)."""
        now = self._clock.now()
        existing = await uow.reservations.get_by_order(
            org_id=command.org_id, order_id=command.order_id, for_update=True
        )
        if existing is not None:
            existing.answer_reserved(command.causation_id, now)
            uow.record(existing.pull_events())
            return existing
        refused = await uow.reservations.get_rejection(
            org_id=command.org_id, order_id=command.order_id
        )
        if refused is not None:
            uow.record([replace(refused, causation_id=command.causation_id, occurred_at=now)])
            return None
        merged = Counter[str]()
        for line in command.lines:
            merged[line.sku] += line.quantity
        lines = [RequestedLine(sku, qty) for sku, qty in merged.items()]
        catalog = await uow.stock.lock_by_skus(org_id=command.org_id, skus=merged)
        outcome = reserve(
            org_id=command.org_id,
            order_id=command.order_id,
            currency=command.currency,
            lines=lines,
            catalog=catalog,
            causation_id=command.causation_id,
            now=now,
            new_id=self._new_id,
        )
        if not isinstance(outcome, Reservation):
            await uow.reservations.add_rejection(outcome)
            uow.record([outcome])
            return None
        for held in outcome.lines:
            await uow.stock.save(catalog[held.sku][1])
        await uow.reservations.add(outcome)
        uow.record(outcome.pull_events())
        return outcome
