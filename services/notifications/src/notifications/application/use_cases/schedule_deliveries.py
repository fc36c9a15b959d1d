"""On a subscribable event: one delivery per enabled endpoint of the event's org subscribed to
its type, unique per (endpoint, event id), so a redelivered event schedules nothing new.

Runs inside the consumer's unit of work: the deliveries commit with the inbox claim.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from notifications.application.ports import UnitOfWork, UnitOfWorkFactory
from notifications.domain.delivery import Delivery
from notifications.domain.signing import message_body
from notifications.domain.values import WebhookEventType
from shared.clock import Clock

__all__ = ["ScheduleDeliveries", "ScheduleDeliveriesInput"]


@dataclass(frozen=True, slots=True)
class ScheduleDeliveriesInput:
    """The event: its id (``ce_id``), type, org, when it happened and its v1 payload."""

    org_id: uuid.UUID
    event_id: uuid.UUID
    event_type: WebhookEventType
    occurred_at: datetime
    data: Mapping[str, Any]


class ScheduleDeliveries:
    """Fan an event out to the org's subscribed endpoints."""

    def __init__(
        self, uow: UnitOfWorkFactory, clock: Clock, new_id: Callable[[], uuid.UUID]
    ) -> None:
        self._uow, self._clock, self._new_id = uow, clock, new_id

    async def __call__(self, command: ScheduleDeliveriesInput) -> int:
        """Run in a transaction of its own; return how many deliveries were created."""
        async with self._uow() as uow:
            created = await self.apply(uow, command)
            await uow.commit()
        return created

    async def apply(self, uow: UnitOfWork, command: ScheduleDeliveriesInput) -> int:
        """Run inside ``uow`` (the consumer's); return how many deliveries were created."""
        endpoints = await uow.endpoints.subscribed(
            org_id=command.org_id, event_type=command.event_type
        )
        if not endpoints:
            return 0
        now = self._clock.now()
        body = message_body(command.event_type, command.occurred_at, command.data)
        return await uow.deliveries.add_many(
            Delivery.schedule(
                id=self._new_id(),
                org_id=command.org_id,
                endpoint_id=endpoint.id,
                event_id=command.event_id,
                event_type=command.event_type,
                body=body,
                now=now,
            )
            for endpoint in endpoints
        )
