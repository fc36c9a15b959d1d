"""Read one delivery of an endpoint with all its attempts (every member)."""

from __future__ import annotations

import uuid

from notifications.application.permissions import POLICY
from notifications.application.ports import UnitOfWorkFactory
from notifications.domain.delivery import Delivery
from notifications.domain.errors import DeliveryNotFoundError, EndpointNotFoundError
from shared.auth.principal import Principal

__all__ = ["GetWebhookDelivery"]


class GetWebhookDelivery:
    """Members read a delivery of their org's endpoint; anything else is 404."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        delivery_id: uuid.UUID,
    ) -> Delivery:
        """The delivery and its attempts."""
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(
                org_id=org_id, endpoint_id=endpoint_id, include_deleted=True
            )
            if endpoint is None:
                raise EndpointNotFoundError()
            delivery = await uow.deliveries.get(
                org_id=org_id, endpoint_id=endpoint_id, delivery_id=delivery_id
            )
        if delivery is None:
            raise DeliveryNotFoundError()
        return delivery
