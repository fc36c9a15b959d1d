"""Fakes of payments' ports (in memory, no IO) and the use cases wired through ``bootstrap``.

The fake unit of work copies payments in and out, as a database would: a use case that changes
a payment without saving it changes nothing, and nothing is kept without a commit. The fake
provider keeps the real one's promise: one answer per idempotency key.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Self

import pytest

from payments.application.facade import PaymentsUseCases, WorkerUseCases
from payments.application.ports import (
    AuthorizationRequest,
    HeldForCancelledOrders,
    ProviderAuthorization,
)
from payments.bootstrap import bootstrap, bootstrap_worker
from payments.domain.events import DomainEvent
from payments.domain.payment import CancelledOrder, Claim, Payment
from payments.domain.schedule import RetrySchedule
from payments.domain.values import (
    AttemptOutcome,
    AuthorizationResult,
    Authorized,
    Declined,
    DeferralReason,
    FailureReason,
    PaymentStatus,
    ProviderCall,
    Unavailable,
)
from shared.auth.principal import Principal, Role
from shared.clock import FrozenClock
from shared.errors import DependencyUnavailableError

SCHEDULE = RetrySchedule(initial_delay_s=1.0, multiplier=2.0, max_delay_s=8.0, jitter=0.5)
LEASE = timedelta(seconds=30)


def principal_of(org_id: uuid.UUID, *roles: Role) -> Principal:
    """A caller in ``org_id`` with ``roles`` (member when none given)."""
    return Principal(user_id=uuid.uuid4(), org_id=org_id, roles=frozenset(roles or {Role.MEMBER}))


def _row(payment: Payment) -> Payment:
    """A stored copy: what a row holds (no pending events, attempts saved)."""
    stored = copy.deepcopy(payment)
    stored.pull_events()
    stored.mark_saved()
    return stored


@dataclass
class Store:
    """The fake database."""

    payments: dict[uuid.UUID, Payment] = field(default_factory=dict)
    tombstones: dict[uuid.UUID, CancelledOrder] = field(default_factory=dict)
    events: list[DomainEvent] = field(default_factory=list)
    commits: int = 0
    wakes: int = 0


class FakePaymentRepository:
    def __init__(self, store: Store, clock: FrozenClock) -> None:
        self.store, self.clock = store, clock

    async def lock_order(self, *, order_id: uuid.UUID) -> None:
        return None  # one coroutine at a time: nothing to serialise

    async def add(self, payment: Payment) -> bool:
        if any(p.order_id == payment.order_id for p in self.store.payments.values()):
            return False
        self.store.payments[payment.id] = _row(payment)
        return True

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Payment | None:
        found = [
            p for p in self.store.payments.values() if p.org_id == org_id and p.order_id == order_id
        ]
        return copy.deepcopy(found[0]) if found else None

    async def get(self, *, payment_id: uuid.UUID, for_update: bool = False) -> Payment | None:
        found = self.store.payments.get(payment_id)
        return copy.deepcopy(found) if found else None

    async def save(self, payment: Payment) -> None:
        self.store.payments[payment.id] = _row(payment)
        payment.mark_saved()

    async def claim_due(
        self, *, now: datetime, until: datetime, token: uuid.UUID, limit: int
    ) -> Sequence[Claim]:
        due = sorted(
            (p for p in self.store.payments.values() if p.due_at(now)),
            key=lambda p: p.next_attempt_at or now,
        )[:limit]
        return [p.claim(token, until) for p in due]

    async def next_due_at(self) -> datetime | None:
        times = [
            max(p.next_attempt_at, p.claimed_until or p.next_attempt_at)
            for p in self.store.payments.values()
            if p.next_attempt_at is not None
        ]
        return min(times, default=None)

    async def held_for_cancelled_orders(self) -> HeldForCancelledOrders:
        voiding = [p for p in self.store.payments.values() if p.status is PaymentStatus.VOIDING]
        since = [p.voiding_since or p.updated_at for p in voiding]
        return HeldForCancelledOrders(len(voiding), min(since, default=None))

    async def add_tombstone(self, cancelled: CancelledOrder) -> None:
        self.store.tombstones.setdefault(cancelled.order_id, cancelled)

    async def get_tombstone(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> CancelledOrder | None:
        found = self.store.tombstones.get(order_id)
        return found if found and found.org_id == org_id else None


class FakeUnitOfWork:
    """Applies the staged writes to the store only on commit."""

    def __init__(self, store: Store, clock: FrozenClock) -> None:
        self.committed, self.clock = store, clock

    async def __aenter__(self) -> Self:
        self.work = copy.deepcopy(self.committed)
        self.payments = FakePaymentRepository(self.work, self.clock)
        self.staged: list[DomainEvent] = []
        self.wake = False
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

    def wake_worker(self) -> None:
        self.wake = True

    async def commit(self) -> None:
        self.committed.payments = self.work.payments
        self.committed.tombstones = self.work.tombstones
        self.committed.events.extend(self.staged)
        self.committed.commits += 1
        self.committed.wakes += int(self.wake)


@dataclass
class Held:
    """An authorisation the fake provider holds."""

    id: str
    reference: str
    status: str


class FakePaymentProvider:
    """The provider port in memory: one answer per key, scripted trouble, voids, lookups.

    ``script`` holds what the next runs do, in order: ``"ok"`` (authorise, or replay the key's
    answer), ``"decline"``, ``"insufficient"``, ``"down"`` (an error before anything happened),
    ``"open"`` (the circuit refuses), ``"lost"`` (authorised, but the answer timed out). When it
    runs out, runs answer ``"ok"``. ``void_down`` makes voids and lookups fail transiently.
    """

    name = "fakepay"

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.script: list[str] = []
        self.requests: list[AuthorizationRequest] = []
        self.answers: dict[str, Authorized | Declined] = {}
        self.held: list[Held] = []
        self.voids: list[str] = []
        self.void_down = False
        self._ids = itertools.count(1)

    def _call(self, outcome: AttemptOutcome, status: int | None) -> ProviderCall:
        return ProviderCall(self.clock.now(), outcome, status, 5)

    def _authorize_once(
        self, request: AuthorizationRequest, decline: str | None
    ) -> Authorized | Declined:
        known = self.answers.get(request.idempotency_key)
        if known is not None:
            return known
        answer: Authorized | Declined
        if decline == "decline":
            answer = Declined(FailureReason.DECLINED, "card_declined")
        elif decline == "insufficient":
            answer = Declined(FailureReason.INSUFFICIENT_FUNDS, "insufficient_funds")
        else:
            held = Held(f"auth_{next(self._ids)}", request.reference, "authorized")
            self.held.append(held)
            answer = Authorized(held.id)
        self.answers[request.idempotency_key] = answer
        return answer

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        self.requests.append(request)
        step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            call = self._call(AttemptOutcome.PROVIDER_ERROR, 503)
            return AuthorizationResult((call, call), Unavailable(DeferralReason.PROVIDER_ERROR))
        if step == "open":
            call = self._call(AttemptOutcome.CIRCUIT_OPEN, None)
            return AuthorizationResult((call,), Unavailable(DeferralReason.CIRCUIT_OPEN))
        answer = self._authorize_once(request, step)
        if step == "lost":
            call = self._call(AttemptOutcome.TIMEOUT, None)
            return AuthorizationResult((call,), Unavailable(DeferralReason.PROVIDER_TIMEOUT))
        outcome = (
            AttemptOutcome.AUTHORIZED if isinstance(answer, Authorized) else AttemptOutcome.DECLINED
        )
        return AuthorizationResult((self._call(outcome, 201),), answer)

    async def find_authorizations(self, reference: str) -> Sequence[ProviderAuthorization]:
        if self.void_down:
            raise DependencyUnavailableError()
        return [
            ProviderAuthorization(h.id, h.status) for h in self.held if h.reference == reference
        ]

    async def void(self, authorization_id: str) -> bool:
        if self.void_down:
            raise DependencyUnavailableError()
        for held in self.held:
            if held.id == authorization_id:
                held.status = "voided"
                self.voids.append(authorization_id)
                return True
        return False


@pytest.fixture
def store() -> Store:
    """An empty fake database."""
    return Store()


@pytest.fixture
def clock() -> FrozenClock:
    """A clock that moves only when told."""
    return FrozenClock()


@pytest.fixture
def provider(clock: FrozenClock) -> FakePaymentProvider:
    """A well-behaved fake provider, until a test scripts trouble."""
    return FakePaymentProvider(clock)


@pytest.fixture
def payments(store: Store, clock: FrozenClock) -> PaymentsUseCases:
    """The API's and consumer's use cases, wired through the real ``bootstrap`` on fakes."""
    return bootstrap(uow=lambda: FakeUnitOfWork(store, clock), clock=clock)


@pytest.fixture
def worker(store: Store, clock: FrozenClock, provider: FakePaymentProvider) -> WorkerUseCases:
    """The worker's use cases on fakes; jitter draws 0 (full waits)."""
    return bootstrap_worker(
        uow=lambda: FakeUnitOfWork(store, clock),
        provider=provider,
        schedule=SCHEDULE,
        lease=LEASE,
        clock=clock,
        rand=lambda: 0.0,
    )
