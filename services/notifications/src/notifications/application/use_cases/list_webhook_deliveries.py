"""The delivery log of one endpoint, newest first, filtered, a page at a time.

Readable for a deleted endpoint too, until the retention purge removes its deliveries.
"""

from __future__ import annotations

import uuid

from notifications.application.permissions import POLICY
from notifications.application.ports import DeliveryFilter, UnitOfWorkFactory
from notifications.domain.delivery import Delivery
from notifications.domain.errors import EndpointNotFoundError
from shared.auth.principal import Principal
from shared.errors import FieldError, ValidationError
from shared.pagination import Page, check_limit, decode_cursor, encode_cursor, page_of

__all__ = ["ListWebhookDeliveries"]


class ListWebhookDeliveries:
    """Every member reads the delivery log of the org's endpoints."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        cursor: str | None = None,
        limit: int = 20,
        filters: DeliveryFilter | None = None,
    ) -> Page[Delivery]:
        """Up to ``limit`` (1..100) deliveries after ``cursor``, each with its attempts."""
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        check_limit(limit)
        filters = filters or DeliveryFilter()
        after, until = filters.created_after, filters.created_before
        if after is not None and until is not None and after >= until:
            raise ValidationError(
                "created_after must be before created_before.",
                errors=[FieldError("query.created_after", "after created_before", "value_error")],
            )
        bound = {
            "endpoint_id": endpoint_id,
            "status": filters.status,
            "event_type": filters.event_type,
            "created_after": filters.created_after,
            "created_before": filters.created_before,
        }
        before = decode_cursor(cursor, bound)
        async with self._uow() as uow:
            endpoint = await uow.endpoints.get(
                org_id=org_id, endpoint_id=endpoint_id, include_deleted=True
            )
            if endpoint is None:
                raise EndpointNotFoundError()
            rows = await uow.deliveries.list(
                org_id=org_id,
                endpoint_id=endpoint_id,
                before=before,
                limit=limit + 1,
                filters=filters,
            )
        return page_of(rows, limit, lambda delivery: encode_cursor(delivery.id, bound))
