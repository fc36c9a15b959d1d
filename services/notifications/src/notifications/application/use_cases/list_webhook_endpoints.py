"""List the org's endpoints, newest first, a page at a time (cursor bound to the filters)."""

from __future__ import annotations

import uuid

from notifications.application.permissions import POLICY
from notifications.application.ports import EndpointFilter, UnitOfWorkFactory
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.errors import EndpointNotFoundError
from shared.auth.principal import Principal
from shared.pagination import Page, check_limit, decode_cursor, encode_cursor, page_of

__all__ = ["ListWebhookEndpoints"]


class ListWebhookEndpoints:
    """Every member lists the org's (not deleted) endpoints, filtered by event type or state."""

    def __init__(self, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def __call__(
        self,
        principal: Principal,
        *,
        org_id: uuid.UUID,
        cursor: str | None = None,
        limit: int = 20,
        filters: EndpointFilter | None = None,
    ) -> Page[WebhookEndpoint]:
        """Up to ``limit`` (1..100) endpoints after ``cursor``."""
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        check_limit(limit)
        filters = filters or EndpointFilter()
        bound = {"event_type": filters.event_type, "enabled": filters.enabled}
        before = decode_cursor(cursor, bound)
        async with self._uow() as uow:
            rows = await uow.endpoints.list(
                org_id=org_id, before=before, limit=limit + 1, filters=filters
            )
        return page_of(rows, limit, lambda endpoint: encode_cursor(endpoint.id, bound))
