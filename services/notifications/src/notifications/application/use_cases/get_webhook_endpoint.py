"""Read one of the org's endpoints (every member; never its secret)."""

from __future__ import annotations

import uuid

from notifications.application.permissions import POLICY
from notifications.application.ports import UnitOfWorkFactory
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.errors import EndpointNotFoundError
from shared.auth.principal import Principal

__all__ = ["GetWebhookEndpoint"]


class GetWebhookEndpoint:
    """Members read their org's endpoints; a deleted or foreign endpoint is 404."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self, principal: Principal, *, org_id: uuid.UUID, endpoint_id: uuid.UUID
    ) -> WebhookEndpoint:
        """The endpoint."""
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(org_id=org_id, endpoint_id=endpoint_id)
        if endpoint is None:
            raise EndpointNotFoundError()
        return endpoint
