"""List the org's endpoints, newest first, a page at a time (cursor bound to the filters)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from notifications.application.pagination import decode_cursor, encode_cursor
from notifications.application.permissions import POLICY
from notifications.application.ports import EndpointFilter, UnitOfWorkFactory
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.errors import EndpointNotFoundError
from shared.auth.principal import Principal
from shared.errors import ValidationError

__all__ = ["EndpointPage", "ListWebhookEndpoints"]

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class EndpointPage:
    """One page; ``next_cursor`` is None on the last page."""

    items: tuple[WebhookEndpoint, ...]
    next_cursor: str | None


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
    ) -> EndpointPage:
        """Up to ``limit`` (1..100) endpoints after ``cursor``."""
        POLICY.require(principal, "webhooks.read", org_id=org_id, not_found=EndpointNotFoundError)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValidationError("limit must be between 1 and 100.")
        filters = filters or EndpointFilter()
        bound = {"event_type": filters.event_type, "enabled": filters.enabled}
        before = decode_cursor(cursor, bound)
        async with self._uow() as uow:
            rows = await uow.endpoints.list(
                org_id=org_id, before=before, limit=limit + 1, filters=filters
            )
        items = tuple(rows[:limit])
        more = len(rows) > limit and items
        return EndpointPage(items, encode_cursor(items[-1].id, bound) if more else None)
