"""The ports notifications' use cases need; adapters implement them, tests fake them.

Every repository read of an org-owned row takes ``org_id`` as a required keyword, so a query
that forgets the tenant cannot be written. The worker's claim is the one query across orgs.

Lock order, everywhere: an endpoint's row before its deliveries' rows (deletion and attempt
recording both follow it), so the two never deadlock.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from notifications.domain.delivery import Delivery
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.events import DomainEvent
from notifications.domain.values import (
    AttemptError,
    DeliveryStatus,
    SigningSecret,
    WebhookEventType,
)
from shared.idempotency import IdempotencyRecords
from shared.unit_of_work import TransactionalUnitOfWork

__all__ = [
    "DeliveryFilter",
    "DeliveryRepository",
    "EndpointFilter",
    "EndpointPresenter",
    "EndpointRepository",
    "Housekeeping",
    "SendResult",
    "UnitOfWork",
    "UnitOfWorkFactory",
    "WebhookRequest",
    "WebhookSender",
]


@dataclass(frozen=True, slots=True)
class EndpointFilter:
    """Optional filters of an endpoint listing (all given ones must match)."""

    event_type: WebhookEventType | None = None
    enabled: bool | None = None


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    """Optional filters of a delivery log listing (all given ones must match)."""

    status: DeliveryStatus | None = None
    event_type: WebhookEventType | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None


class EndpointRepository(Protocol):
    """Webhook endpoints."""

    async def add(self, endpoint: WebhookEndpoint) -> None:
        """Insert a new endpoint."""
        ...

    async def get(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> WebhookEndpoint | None:
        """The org's endpoint (row-locked when ``for_update``), or None."""
        ...

    async def lock_org(self, *, org_id: uuid.UUID) -> None:
        """Serialize endpoint registrations of one org until the transaction ends."""
        ...

    async def count(self, *, org_id: uuid.UUID) -> int:
        """How many (not deleted) endpoints the org has."""
        ...

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: EndpointFilter,
    ) -> Sequence[WebhookEndpoint]:
        """Up to ``limit`` not-deleted endpoints, newest first (UUID v7), older than ``before``."""
        ...

    async def subscribed(
        self, *, org_id: uuid.UUID, event_type: WebhookEventType
    ) -> Sequence[WebhookEndpoint]:
        """The org's enabled, not-deleted endpoints subscribed to ``event_type``."""
        ...

    async def save(self, endpoint: WebhookEndpoint) -> None:
        """Write a changed endpoint."""
        ...


class DeliveryRepository(Protocol):
    """Deliveries and their attempts."""

    async def add_many(self, deliveries: Iterable[Delivery]) -> int:
        """Insert deliveries, skipping any whose (endpoint, event) exists; return how many new."""
        ...

    async def get(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery | None:
        """The delivery with its attempts, or None."""
        ...

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: DeliveryFilter,
    ) -> Sequence[Delivery]:
        """Up to ``limit`` deliveries of the endpoint with their attempts, newest first."""
        ...

    async def due(
        self, *, now: datetime, limit: int, exclude_endpoints: Collection[uuid.UUID]
    ) -> Sequence[tuple[Delivery, WebhookEndpoint]]:
        """Open deliveries due at ``now`` (oldest due first) with their endpoints, row-locked;
        rows another transaction holds are skipped (``FOR UPDATE SKIP LOCKED``)."""
        ...

    async def lease(self, delivery: Delivery, *, token: uuid.UUID, until: datetime) -> None:
        """Reserve a due delivery for one worker: not due again before ``until``."""
        ...

    async def get_leased(self, *, delivery_id: uuid.UUID, token: uuid.UUID) -> Delivery | None:
        """The delivery (row-locked) if it is still reserved by ``token``, else None."""
        ...

    async def save(self, delivery: Delivery) -> None:
        """Write a changed delivery and its new attempts; releases its lease."""
        ...

    async def abandon_open(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
    ) -> int:
        """End every open delivery of the endpoint as failed, unattempted; return how many."""
        ...

    async def next_due_at(self, *, exclude_endpoints: Collection[uuid.UUID]) -> datetime | None:
        """When the earliest open delivery is due, or None when there is none."""
        ...


class Housekeeping(Protocol):
    """Deleting what outlived its retention."""

    async def purge_deliveries(self, *, finished_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` deliveries that ended before the cutoff (attempts included)."""
        ...

    async def purge_endpoints(self, *, deleted_before: datetime, limit: int) -> int:
        """Delete up to ``limit`` endpoints deleted before the cutoff and without deliveries."""
        ...


class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
    """One transaction: the repositories, staged events, commit."""

    @property
    def endpoints(self) -> EndpointRepository:
        """Endpoints, in this transaction."""
        ...

    @property
    def deliveries(self) -> DeliveryRepository:
        """Deliveries, in this transaction."""
        ...

    @property
    def idempotency(self) -> IdempotencyRecords:
        """Idempotency records, in this transaction."""
        ...

    @property
    def housekeeping(self) -> Housekeeping:
        """Retention purges, in this transaction."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]

EndpointPresenter = Callable[[WebhookEndpoint, SigningSecret], dict[str, Any]]
"""Renders a just-created endpoint and its secret as the API's response body (stored with the
idempotency key, so a replay returns exactly the original body)."""


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    """One signed POST to an endpoint."""

    endpoint_id: uuid.UUID
    url: str
    headers: Mapping[str, str]
    body: str


@dataclass(frozen=True, slots=True)
class SendResult:
    """How an endpoint answered one request.

    Attributes:
        response_status: the HTTP status, None when there was no answer.
        error: None for a 2xx; else why the attempt failed.
        duration_ms: time spent on the attempt (0 when it was not made).
        retry_after: with ``circuit_open``: how long until the endpoint's circuit lets a trial
            call through.
    """

    response_status: int | None
    error: AttemptError | None
    duration_ms: int
    retry_after: timedelta | None = None


class WebhookSender(Protocol):
    """Sends webhooks: one deadline per call and one circuit breaker per endpoint."""

    async def send(self, request: WebhookRequest) -> SendResult:
        """POST the request; never raises for the endpoint's failures (they are results)."""
        ...
