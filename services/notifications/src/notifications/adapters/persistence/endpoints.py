"""Webhook endpoints on PostgreSQL; every query is scoped by ``org_id``."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import RowMapping, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.adapters.persistence.tables import endpoints
from notifications.application.ports import EndpointFilter
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.values import SigningSecret, WebhookEventType

__all__ = ["SqlaEndpointRepository", "endpoint_from_row"]

# A stable namespace for the per-org advisory lock of registrations.
_ORG_LOCK_NAMESPACE = 0x4E4F5449  # "NOTI"


def endpoint_from_row(row: RowMapping, prefix: str = "") -> WebhookEndpoint:
    """Rebuild an endpoint from its row (``prefix`` for the columns of a join)."""
    secret = row[f"{prefix}secret"]
    return WebhookEndpoint(
        id=row[f"{prefix}id"],
        org_id=row[f"{prefix}org_id"],
        url=row[f"{prefix}url"],
        description=row[f"{prefix}description"],
        event_types=tuple(WebhookEventType(t) for t in row[f"{prefix}event_types"]),
        secret=SigningSecret(secret) if secret is not None else None,
        enabled=row[f"{prefix}enabled"],
        disabled_reason=row[f"{prefix}disabled_reason"],
        failing_since=row[f"{prefix}failing_since"],
        created_at=row[f"{prefix}created_at"],
        updated_at=row[f"{prefix}updated_at"],
        deleted_at=row[f"{prefix}deleted_at"],
    )


class SqlaEndpointRepository:
    """Endpoints in PostgreSQL."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, endpoint: WebhookEndpoint) -> None:
        """Insert a new endpoint."""
        await self._session.execute(
            insert(endpoints).values(
                id=endpoint.id,
                org_id=endpoint.org_id,
                url=endpoint.url,
                description=endpoint.description,
                event_types=[t.value for t in endpoint.event_types],
                secret=endpoint.secret.reveal() if endpoint.secret else None,
                enabled=endpoint.enabled,
                disabled_reason=endpoint.disabled_reason,
                failing_since=endpoint.failing_since,
                created_at=endpoint.created_at,
                updated_at=endpoint.updated_at,
                deleted_at=endpoint.deleted_at,
            )
        )

    async def get(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> WebhookEndpoint | None:
        """The org's endpoint, or None; ``for_update`` takes ``FOR NO KEY UPDATE`` (it does not
        block the key-share locks of deliveries being inserted for it)."""
        query = select(endpoints).where(endpoints.c.org_id == org_id, endpoints.c.id == endpoint_id)
        if not include_deleted:
            query = query.where(endpoints.c.deleted_at.is_(None))
        if for_update:
            query = query.with_for_update(key_share=True)
        row = (await self._session.execute(query)).mappings().first()
        return endpoint_from_row(row) if row else None

    async def lock_org(self, *, org_id: uuid.UUID) -> None:
        """Transaction-scoped advisory lock on the org's registrations."""
        await self._session.execute(
            select(func.pg_advisory_xact_lock(_ORG_LOCK_NAMESPACE, func.hashtext(str(org_id))))
        )

    async def count(self, *, org_id: uuid.UUID) -> int:
        """How many not-deleted endpoints the org has."""
        query = (
            select(func.count())
            .select_from(endpoints)
            .where(endpoints.c.org_id == org_id, endpoints.c.deleted_at.is_(None))
        )
        return int(await self._session.scalar(query) or 0)

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: EndpointFilter,
    ) -> Sequence[WebhookEndpoint]:
        """Up to ``limit`` not-deleted endpoints, newest first, older than ``before``."""
        query = select(endpoints).where(
            endpoints.c.org_id == org_id, endpoints.c.deleted_at.is_(None)
        )
        if before is not None:
            query = query.where(endpoints.c.id < before)
        if filters.event_type is not None:
            query = query.where(endpoints.c.event_types.contains([filters.event_type.value]))
        if filters.enabled is not None:
            query = query.where(endpoints.c.enabled.is_(filters.enabled))
        query = query.order_by(endpoints.c.id.desc()).limit(limit)
        return [endpoint_from_row(row) for row in (await self._session.execute(query)).mappings()]

    async def subscribed(
        self, *, org_id: uuid.UUID, event_type: WebhookEventType
    ) -> Sequence[WebhookEndpoint]:
        """The org's deliverable endpoints subscribed to ``event_type``."""
        query = (
            select(endpoints)
            .where(
                endpoints.c.org_id == org_id,
                endpoints.c.enabled.is_(True),
                endpoints.c.deleted_at.is_(None),
                endpoints.c.event_types.contains([event_type.value]),
            )
            .order_by(endpoints.c.id)
        )
        return [endpoint_from_row(row) for row in (await self._session.execute(query)).mappings()]

    async def save(self, endpoint: WebhookEndpoint) -> None:
        """Write the mutable columns."""
        await self._session.execute(
            update(endpoints)
            .where(endpoints.c.org_id == endpoint.org_id, endpoints.c.id == endpoint.id)
            .values(
                secret=endpoint.secret.reveal() if endpoint.secret else None,
                enabled=endpoint.enabled,
                disabled_reason=endpoint.disabled_reason,
                failing_since=endpoint.failing_since,
                updated_at=endpoint.updated_at,
                deleted_at=endpoint.deleted_at,
            )
        )
