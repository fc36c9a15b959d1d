"""Delete an endpoint: no more deliveries, its open ones abandoned, its secret erased.

The delivery log stays readable until the retention purge; deleting twice is 404.
"""

from __future__ import annotations

import uuid

from notifications.application.permissions import POLICY
from notifications.application.ports import UnitOfWorkFactory
from notifications.domain.errors import EndpointNotFoundError
from shared.auth.principal import Principal
from shared.clock import Clock

__all__ = ["DeleteWebhookEndpoint"]


class DeleteWebhookEndpoint:
    """Owners and admins delete their org's endpoints."""

    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow, self._clock = uow, clock

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> None:
        """Delete it (the endpoint row first, then its deliveries: the lock order).

        A missing (or another org's) endpoint is 404 for every role, as the contract says;
        only an existing one of the caller's org can be 403 (members and viewers read it anyway).
        """
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        now = self._clock.now()
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(
                org_id=org_id, endpoint_id=endpoint_id, for_update=True
            )
            if endpoint is None:
                raise EndpointNotFoundError()
            POLICY.require(
                principal, "webhooks.manage", org_id=org_id, not_found=EndpointNotFoundError
            )
            endpoint.delete(now)
            await uow.endpoints.save(endpoint)
            await uow.deliveries.abandon_open(org_id=org_id, endpoint_id=endpoint_id, now=now)
            await uow.commit()
