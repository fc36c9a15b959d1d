"""Fakes of notifications' ports (in memory, no IO) and the use cases wired through
``bootstrap``.

The fakes copy aggregates in and out, as a database would: a use case that changes an object
without saving it changes nothing, and nothing is visible before ``commit``.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Self

import pytest

from notifications.application.facade import NotificationsUseCases
from notifications.application.ports import (
    DeliveryFilter,
    EndpointFilter,
    SendResult,
    WebhookRequest,
)
from notifications.application.rules import DeliveryRules, EndpointRules
from notifications.bootstrap import bootstrap
from notifications.domain.delivery import Delivery
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.events import DomainEvent
from notifications.domain.retry import RetrySchedule
from notifications.domain.values import AttemptError, DeliveryStatus, WebhookEventType
from shared.auth.principal import Principal, Role
from shared.clock import FrozenClock
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotentResponse,
)


def principal_of(org_id: uuid.UUID, role: Role = Role.ADMIN) -> Principal:
    """A caller in ``org_id`` with ``role``."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset({role}))


@dataclass
class Store:
    """The fake database."""

    endpoints: dict[uuid.UUID, WebhookEndpoint] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, Delivery] = field(default_factory=dict)
    leases: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)
    keys: dict[tuple[str, str], tuple[str, IdempotentResponse | None]] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    commits: int = 0


def _copy(delivery: Delivery) -> Delivery:
    stored = copy.deepcopy(delivery)
    stored.pull_events()
    return stored


class FakeEndpoints:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add(self, endpoint: WebhookEndpoint) -> None:
        self.s.endpoints[endpoint.id] = copy.deepcopy(endpoint)

    async def get(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        include_deleted: bool = False,
        for_update: bool = False,
    ) -> WebhookEndpoint | None:
        found = self.s.endpoints.get(endpoint_id)
        if found is None or found.org_id != org_id or (found.deleted and not include_deleted):
            return None
        return copy.deepcopy(found)

    async def lock_org(self, *, org_id: uuid.UUID) -> None:
        return None

    async def count(self, *, org_id: uuid.UUID) -> int:
        return sum(1 for e in self.s.endpoints.values() if e.org_id == org_id and not e.deleted)

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: EndpointFilter,
    ) -> Sequence[WebhookEndpoint]:
        found = sorted(
            (
                e
                for e in self.s.endpoints.values()
                if e.org_id == org_id
                and not e.deleted
                and (before is None or e.id < before)
                and (filters.event_type is None or filters.event_type in e.event_types)
                and filters.enabled in (None, e.enabled)
            ),
            key=lambda e: e.id,
            reverse=True,
        )
        return [copy.deepcopy(e) for e in found[:limit]]

    async def subscribed(
        self, *, org_id: uuid.UUID, event_type: WebhookEventType
    ) -> Sequence[WebhookEndpoint]:
        return [
            copy.deepcopy(e)
            for e in self.s.endpoints.values()
            if e.org_id == org_id and e.deliverable and e.subscribes_to(event_type)
        ]

    async def save(self, endpoint: WebhookEndpoint) -> None:
        self.s.endpoints[endpoint.id] = copy.deepcopy(endpoint)


class FakeDeliveries:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def add_many(self, new: Iterable[Delivery]) -> int:
        created = 0
        for delivery in new:
            if any(
                (d.endpoint_id, d.event_id) == (delivery.endpoint_id, delivery.event_id)
                for d in self.s.deliveries.values()
            ):
                continue
            self.s.deliveries[delivery.id] = _copy(delivery)
            created += 1
        return created

    async def get(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, delivery_id: uuid.UUID
    ) -> Delivery | None:
        found = self.s.deliveries.get(delivery_id)
        if found is None or (found.org_id, found.endpoint_id) != (org_id, endpoint_id):
            return None
        return _copy(found)

    async def list(
        self,
        *,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        before: uuid.UUID | None,
        limit: int,
        filters: DeliveryFilter,
    ) -> Sequence[Delivery]:
        f = filters
        found = sorted(
            (
                d
                for d in self.s.deliveries.values()
                if (d.org_id, d.endpoint_id) == (org_id, endpoint_id)
                and (before is None or d.id < before)
                and f.status in (None, d.status)
                and f.event_type in (None, d.event_type)
                and (f.created_after is None or d.created_at >= f.created_after)
                and (f.created_before is None or d.created_at < f.created_before)
            ),
            key=lambda d: d.id,
            reverse=True,
        )
        return [_copy(d) for d in found[:limit]]

    async def due(
        self, *, now: datetime, limit: int, exclude_endpoints: Collection[uuid.UUID]
    ) -> Sequence[tuple[Delivery, WebhookEndpoint]]:
        found = sorted(
            (
                d
                for d in self.s.deliveries.values()
                if d.status.is_open
                and d.next_attempt_at is not None
                and d.next_attempt_at <= now
                and d.endpoint_id not in exclude_endpoints
            ),
            key=lambda d: d.next_attempt_at or now,
        )
        return [(_copy(d), copy.deepcopy(self.s.endpoints[d.endpoint_id])) for d in found[:limit]]

    async def lease(self, delivery: Delivery, *, token: uuid.UUID, until: datetime) -> None:
        stored = self.s.deliveries[delivery.id]
        stored.next_attempt_at = until
        self.s.leases[delivery.id] = token

    async def get_leased(self, *, delivery_id: uuid.UUID, token: uuid.UUID) -> Delivery | None:
        if self.s.leases.get(delivery_id) != token:
            return None
        return _copy(self.s.deliveries[delivery_id])

    async def save(self, delivery: Delivery) -> None:
        self.s.deliveries[delivery.id] = _copy(delivery)
        self.s.leases.pop(delivery.id, None)

    async def abandon_open(
        self, *, org_id: uuid.UUID, endpoint_id: uuid.UUID, now: datetime
    ) -> int:
        ended = 0
        for d in self.s.deliveries.values():
            if (d.org_id, d.endpoint_id) == (org_id, endpoint_id) and d.abandon(now):
                self.s.leases.pop(d.id, None)
                ended += 1
        return ended

    async def next_due_at(self, *, exclude_endpoints: Collection[uuid.UUID]) -> datetime | None:
        due = [
            d.next_attempt_at
            for d in self.s.deliveries.values()
            if d.status.is_open and d.next_attempt_at and d.endpoint_id not in exclude_endpoints
        ]
        return min(due, default=None)


class FakeIdempotency:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def claim(self, *, scope: str, key: str, fingerprint: str) -> IdempotentResponse | None:
        found = self.s.keys.get((scope, key))
        if found is None:
            self.s.keys[(scope, key)] = (fingerprint, None)
            return None
        stored_fingerprint, response = found
        if stored_fingerprint != fingerprint:
            raise IdempotencyKeyReusedError()
        if response is None:
            raise IdempotencyInProgressError()
        return response

    async def complete(self, *, scope: str, key: str, response: IdempotentResponse) -> None:
        fingerprint, _ = self.s.keys[(scope, key)]
        self.s.keys[(scope, key)] = (fingerprint, response)


class FakeHousekeeping:
    def __init__(self, store: Store) -> None:
        self.s = store

    async def purge_deliveries(self, *, finished_before: datetime, limit: int) -> int:
        old = [
            d.id
            for d in self.s.deliveries.values()
            if not d.status.is_open and d.updated_at < finished_before
        ][:limit]
        for delivery_id in old:
            del self.s.deliveries[delivery_id]
        return len(old)

    async def purge_endpoints(self, *, deleted_before: datetime, limit: int) -> int:
        used = {d.endpoint_id for d in self.s.deliveries.values()}
        old = [
            e.id
            for e in self.s.endpoints.values()
            if e.deleted_at is not None and e.deleted_at < deleted_before and e.id not in used
        ][:limit]
        for endpoint_id in old:
            del self.s.endpoints[endpoint_id]
        return len(old)


class FakeUnitOfWork:
    """Works on a copy of the store; the copy replaces the store only on commit."""

    def __init__(self, store: Store) -> None:
        self.committed = store

    async def __aenter__(self) -> Self:
        self.work = copy.deepcopy(self.committed)
        self.endpoints = FakeEndpoints(self.work)
        self.deliveries = FakeDeliveries(self.work)
        self.idempotency = FakeIdempotency(self.work)
        self.housekeeping = FakeHousekeeping(self.work)
        self.staged: list[DomainEvent] = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def record(self, events: Iterable[DomainEvent]) -> None:
        self.staged.extend(events)

    async def commit(self) -> None:
        self.committed.endpoints = self.work.endpoints
        self.committed.deliveries = self.work.deliveries
        self.committed.leases = self.work.leases
        self.committed.keys = self.work.keys
        self.committed.events.extend(self.staged)
        self.committed.commits += 1


class FakeSender:
    """Answers with the queued results (2xx when none is queued) and remembers the requests."""

    def __init__(self) -> None:
        self.requests: list[WebhookRequest] = []
        self.results: list[SendResult] = []

    def answer(self, *results: SendResult) -> None:
        self.results.extend(results)

    async def send(self, request: WebhookRequest) -> SendResult:
        self.requests.append(request)
        if self.results:
            return self.results.pop(0)
        return SendResult(204, None, 3)


def failed(status: int | None = 500) -> SendResult:
    """A failed answer (None: no answer, a timeout)."""
    if status is None:
        return SendResult(None, AttemptError.TIMEOUT, 10_000)
    return SendResult(status, AttemptError.HTTP_STATUS, 5)


SCHEDULE = RetrySchedule.of_seconds([5, 60, 600], jitter=0.2)


@pytest.fixture
def store() -> Store:
    """An empty fake database."""
    return Store()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when told."""
    return FrozenClock(datetime(2026, 11, 26, 12, 0, tzinfo=UTC))


@pytest.fixture
def sender() -> FakeSender:
    """A fake HTTP sender."""
    return FakeSender()


@pytest.fixture
def use_cases(store: Store, clock: FrozenClock, sender: FakeSender) -> NotificationsUseCases:
    """The use cases, wired through the real ``bootstrap`` on the fakes (jitter fixed at 0.5)."""
    counter = itertools.count(1)
    return bootstrap(
        uow=lambda: FakeUnitOfWork(store),
        sender=sender,
        clock=clock,
        random_bytes=lambda n: bytes([next(counter) % 256]) * n,
        jitter=lambda: 0.5,
        endpoint_rules=EndpointRules(max_per_org=3, allow_loopback_http=False),
        delivery_rules=DeliveryRules(
            schedule=SCHEDULE, lease=timedelta(seconds=30), disable_after=timedelta(days=5)
        ),
    )


__all__ = [
    "SCHEDULE",
    "DeliveryStatus",
    "FakeSender",
    "Store",
    "failed",
    "principal_of",
]
