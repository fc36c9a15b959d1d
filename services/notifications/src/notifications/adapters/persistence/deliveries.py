"""Deliveries and their attempts on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime

from sqlalchemy import RowMapping, delete, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from notifications.adapters.persistence.endpoints import endpoint_from_row
from notifications.adapters.persistence.tables import (
    attempts,
    deliveries,
    endpoints,
)
from notifications.application.ports import DeliveryFilter
from notifications.domain.delivery import Attempt, Delivery
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.values import AttemptError, DeliveryStatus, WebhookEventType
from shared.observability import saved_trace_context

__all__ = ["SqlaDeliveryRepository", "SqlaHousekeeping"]

_OPEN = (DeliveryStatus.PENDING.value, DeliveryStatus.RETRYING.value)
_FINISHED = (DeliveryStatus.SUCCEEDED.value, DeliveryStatus.FAILED.value)
_ENDPOINT_PREFIX = "ep__"


def _delivery(row: RowMapping) -> Delivery:
    return Delivery(
        id=row["id"],
        org_id=row["org_id"],
        endpoint_id=row["endpoint_id"],
        event_id=row["event_id"],
        event_type=WebhookEventType(row["event_type"]),
        body=row["body"],
        status=DeliveryStatus(row["status"]),
        attempt_count=row["attempt_count"],
        next_attempt_at=row["next_attempt_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        delivered_at=row["delivered_at"],
        trace_context=row["trace_context"],
    )


def _attempt(row: RowMapping) -> Attempt:
    return Attempt(
        number=row["number"],
        attempted_at=row["attempted_at"],
        response_status=row["response_status"],
        duration_ms=row["duration_ms"],
        error=AttemptError(row["error"]) if row["error"] is not None else None,
    )


class SqlaDeliveryRepository:
    """Deliveries in PostgreSQL.

    A loaded delivery remembers how many attempts it had, so :meth:`save` inserts only the
    attempts recorded since.
    """

    def __init__(self, session: AsyncSession) -> None:
        self._session = session
        self._loaded_attempts: dict[uuid.UUID, int] = {}

    def _loaded(self, delivery: Delivery) -> Delivery:
        self._loaded_attempts[delivery.id] = delivery.attempt_count
        return delivery

    async def add_many(self, new: Iterable[Delivery]) -> int:
        """Insert, skipping (endpoint, event) pairs that exist; return how many were new.

        Each row keeps the trace context current now (the consumer handling the event), so
        every attempt of the delivery is traced as part of the event's trace.
        """
        trace_context = saved_trace_context()
        rows = [
            {
                "id": d.id,
                "org_id": d.org_id,
                "endpoint_id": d.endpoint_id,
                "event_id": d.event_id,
                "event_type": d.event_type.value,
                "body": d.body,
                "status": d.status.value,
                "attempt_count": d.attempt_count,
                "next_attempt_at": d.next_attempt_at,
                "created_at": d.created_at,
                "updated_at": d.updated_at,
                "delivered_at": d.delivered_at,
                "trace_context": trace_context,
            }
            for d in new
        ]
        if not rows:
            return 0
        statement = (
            pg_insert(deliveries)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["endpoint_id", "event_id"])
            .returning(deliveries.c.id)
        )
        return len((await self._session.execute(statement)).all())

    async def _with_attempts(self, found: list[Delivery]) -> list[Delivery]:
        if not found:
            return found
        by_id = {d.id: d for d in found}
        query = (
            select(attempts)
            .where(attempts.c.delivery_id.in_(list(by_id)))
            .order_by(attempts.c.delivery_id, attempts.c.number)
        )
        for row in (await self._session.execute(query)).mappings():
            by_id[row["delivery_id"]].attempts.append(_attempt(row))
        return found

    async def get(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery | None:
        """The delivery with its attempts, or None."""
        query = select(deliveries).where(
            deliveries.c.org_id == org_id,
            deliveries.c.endpoint_id == endpoint_id,
            deliveries.c.id == delivery_id,
        )
        row = (await self._session.execute(query)).mappings().first()
        if row is None:
            return None
        return (await self._with_attempts([_delivery(row)]))[0]

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: DeliveryFilter,
    ) -> Sequence[Delivery]:
        """Up to ``limit`` deliveries with their attempts, newest first, older than ``before``."""
        query = select(deliveries).where(
            deliveries.c.org_id == org_id, deliveries.c.endpoint_id == endpoint_id
        )
        if before is not None:
            query = query.where(deliveries.c.id < before)
        if filters.status is not None:
            query = query.where(deliveries.c.status == filters.status.value)
        if filters.event_type is not None:
            query = query.where(deliveries.c.event_type == filters.event_type.value)
        if filters.created_after is not None:
            query = query.where(deliveries.c.created_at >= filters.created_after)
        if filters.created_before is not None:
            query = query.where(deliveries.c.created_at < filters.created_before)
        query = query.order_by(deliveries.c.id.desc()).limit(limit)
        found = [_delivery(row) for row in (await self._session.execute(query)).mappings()]
        return await self._with_attempts(found)

    async def due(
        self, *, now: datetime, limit: int, exclude_endpoints: Collection[uuid.UUID]
    ) -> Sequence[tuple[Delivery, WebhookEndpoint]]:
        """Open deliveries due at ``now`` with their endpoints; ``SKIP LOCKED`` rows of others."""
        endpoint_columns = [c.label(f"{_ENDPOINT_PREFIX}{c.name}") for c in endpoints.c]
        query = (
            select(deliveries, *endpoint_columns)
            .join(endpoints, endpoints.c.id == deliveries.c.endpoint_id)
            .where(deliveries.c.status.in_(_OPEN), deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at)
            .limit(limit)
            .with_for_update(of=deliveries, skip_locked=True)
        )
        if exclude_endpoints:
            query = query.where(deliveries.c.endpoint_id.not_in(list(exclude_endpoints)))
        rows = (await self._session.execute(query)).mappings().all()
        return [
            (self._loaded(_delivery(row)), endpoint_from_row(row, _ENDPOINT_PREFIX)) for row in rows
        ]

    async def lease(self, delivery: Delivery, *, token: uuid.UUID, until: datetime) -> None:
        """Reserve the delivery for ``token`` until ``until`` (it is not due before)."""
        await self._session.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery.id)
            .values(lease_token=token, next_attempt_at=until)
        )

    async def get_leased(self, *, delivery_id: uuid.UUID, token: uuid.UUID) -> Delivery | None:
        """The delivery, row-locked, if ``token`` still holds it."""
        query = (
            select(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.lease_token == token)
            .with_for_update()
        )
        row = (await self._session.execute(query)).mappings().first()
        return self._loaded(_delivery(row)) if row else None

    async def save(self, delivery: Delivery) -> None:
        """Write the status columns and the new attempts; clear the lease."""
        await self._session.execute(
            update(deliveries)
            .where(deliveries.c.org_id == delivery.org_id, deliveries.c.id == delivery.id)
            .values(
                status=delivery.status.value,
                attempt_count=delivery.attempt_count,
                next_attempt_at=delivery.next_attempt_at,
                lease_token=None,
                updated_at=delivery.updated_at,
                delivered_at=delivery.delivered_at,
            )
        )
        known = self._loaded_attempts.get(delivery.id, 0)
        new = [a for a in delivery.attempts if a.number > known]
        if new:
            await self._session.execute(
                insert(attempts),
                [
                    {
                        "delivery_id": delivery.id,
                        "number": a.number,
                        "attempted_at": a.attempted_at,
                        "response_status": a.response_status,
                        "duration_ms": a.duration_ms,
                        "error": a.error.value if a.error is not None else None,
                    }
                    for a in new
                ],
            )
        self._loaded_attempts[delivery.id] = delivery.attempt_count

    async def abandon_open(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
    ) -> int:
        """End the endpoint's open deliveries as failed, without an attempt."""
        result = await self._session.execute(
            update(deliveries)
            .where(
                deliveries.c.org_id == org_id,
                deliveries.c.endpoint_id == endpoint_id,
                deliveries.c.status.in_(_OPEN),
            )
            .values(
                status=DeliveryStatus.FAILED.value,
                next_attempt_at=None,
                lease_token=None,
                updated_at=now,
            )
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def next_due_at(self, *, exclude_endpoints: Collection[uuid.UUID]) -> datetime | None:
        """The earliest due time of an open delivery (through the partial due index)."""
        query = select(func.min(deliveries.c.next_attempt_at)).where(deliveries.c.status.in_(_OPEN))
        if exclude_endpoints:
            query = query.where(deliveries.c.endpoint_id.not_in(list(exclude_endpoints)))
        due: datetime | None = await self._session.scalar(query)
        return due


class SqlaHousekeeping:
    """Retention purges (attempts go with their delivery: ``ON DELETE CASCADE``)."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def purge_deliveries(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that ended before the cutoff."""
        batch = (
            select(deliveries.c.id)
            .where(deliveries.c.status.in_(_FINISHED), deliveries.c.updated_at < finished_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self._session.execute(delete(deliveries).where(deliveries.c.id.in_(batch)))
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge_endpoints(self, *, deleted_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` endpoints deleted before the cutoff that have no deliveries."""
        has_deliveries = exists().where(deliveries.c.endpoint_id == endpoints.c.id)
        batch = (
            select(endpoints.c.id)
            .where(endpoints.c.deleted_at < deleted_before, ~has_deliveries)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        result = await self._session.execute(delete(endpoints).where(endpoints.c.id.in_(batch)))
        return int(result.rowcount)  # type: ignore[attr-defined]
