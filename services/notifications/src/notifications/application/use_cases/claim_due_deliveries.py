"""Claim due deliveries for one worker, in a short transaction of their own.

Rows are taken with ``FOR UPDATE SKIP LOCKED`` (workers never wait for each other) and leased:
each claimed delivery gets a token and is not due again until the lease ends, so the HTTP call
happens with no transaction open, and a worker that dies mid-call only delays its deliveries
by the lease. Deliveries whose endpoint was deleted or disabled meanwhile are abandoned here.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from notifications.application.ports import UnitOfWorkFactory
from notifications.application.rules import DeliveryRules
from notifications.domain.values import SigningSecret, WebhookEventType
from shared.clock import Clock

__all__ = ["ClaimDueDeliveries", "ClaimedDelivery"]


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """What a worker needs to make one attempt, and the lease that lets it record it."""

    delivery_id: uuid.UUID
    org_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_type: WebhookEventType
    url: str
    secret: SigningSecret
    body: str
    attempt_number: int
    lease: uuid.UUID
    trace_context: Mapping[str, str] | None = None


class ClaimDueDeliveries:
    """Hand out up to ``limit`` due deliveries, at most ``per_endpoint`` in flight per endpoint."""

    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        new_id: Callable[[], uuid.UUID],
        rules: DeliveryRules,
    ) -> None:
        self._uow, self._clock, self._new_id, self._rules = uow, clock, new_id, rules

    async def __call__(
        self,
        *,
        limit: int,
        per_endpoint: int,
        in_flight: Mapping[uuid.UUID, int] | None = None,
    ) -> list[ClaimedDelivery]:
        """Claim and lease; ``in_flight`` counts this worker's running attempts per endpoint."""
        busy = dict(in_flight or {})
        saturated = {endpoint for endpoint, n in busy.items() if n >= per_endpoint}
        now = self._clock.now()
        until = now + self._rules.lease
        claimed: list[ClaimedDelivery] = []
        async with self._uow() as uow:
            rows = await uow.deliveries.due(now=now, limit=limit, exclude_endpoints=saturated)
            for delivery, endpoint in rows:
                if not endpoint.deliverable or endpoint.secret is None:
                    delivery.abandon(now)
                    await uow.deliveries.save(delivery)
                    continue
                if busy.get(endpoint.id, 0) >= per_endpoint:
                    continue  # left due: claimed once a slot of this endpoint frees up
                busy[endpoint.id] = busy.get(endpoint.id, 0) + 1
                token = self._new_id()
                await uow.deliveries.lease(delivery, token=token, until=until)
                claimed.append(
                    ClaimedDelivery(
                        delivery_id=delivery.id,
                        org_id=delivery.org_id,
                        endpoint_id=endpoint.id,
                        event_type=delivery.event_type,
                        url=endpoint.url,
                        secret=endpoint.secret,
                        body=delivery.body,
                        attempt_number=delivery.attempt_count + 1,
                        lease=token,
                        trace_context=delivery.trace_context,
                    )
                )
            await uow.commit()
        return claimed

    async def next_due_at(
        self, *, per_endpoint: int, in_flight: Mapping[uuid.UUID, int] | None = None
    ) -> datetime | None:
        """When the next delivery this worker could claim is due (None: nothing is open)."""
        saturated = {e for e, n in (in_flight or {}).items() if n >= per_endpoint}
        async with self._uow() as uow:
            return await uow.deliveries.next_due_at(exclude_endpoints=saturated)
