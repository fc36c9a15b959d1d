"""The ports payments' use cases need; adapters implement them, unit tests fake them.

Repository reads take ``org_id`` where a caller names the payment, so a query that forgets the
tenant cannot be written; the worker reads by the id it claimed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from payments.domain.events import DomainEvent
from payments.domain.payment import CancelledOrder, Claim, Payment
from payments.domain.values import AuthorizationResult, Money
from shared.unit_of_work import TransactionalUnitOfWork

__all__ = [
    "AuthorizationRequest",
    "HeldForCancelledOrders",
    "PaymentProvider",
    "PaymentRepository",
    "ProviderAuthorization",
    "UnitOfWork",
    "UnitOfWorkFactory",
]


@dataclass(frozen=True, slots=True)
class HeldForCancelledOrders:
    """Payments of cancelled orders that may still hold money (status ``voiding``).

    Attributes:
        count: how many.
        oldest_since: when the oldest went to ``voiding`` (None when there is none).
    """

    count: int
    oldest_since: datetime | None


class PaymentRepository(Protocol):
    """Payments (at most one per order) and the cancels of orders never asked to be paid."""

    async def lock_order(self, *, order_id: uuid.UUID) -> None:
        """Serialise this transaction with any other one about the same order."""
        ...

    async def add(self, payment: Payment) -> bool:
        """Insert; False (and nothing written) when the order already has a payment."""
        ...

    async def get_by_order(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID, for_update: bool = False
    ) -> Payment | None:
        """The org's payment of the order (with its attempts), or None."""
        ...

    async def get(self, *, payment_id: uuid.UUID, for_update: bool = False) -> Payment | None:
        """The payment with its attempts, or None."""
        ...

    async def save(self, payment: Payment) -> None:
        """Write a changed payment and its new attempts."""
        ...

    async def claim_due(
        self, *, now: datetime, until: datetime, token: uuid.UUID, limit: int
    ) -> Sequence[Claim]:
        """Claim up to ``limit`` due, unclaimed payments (skipping rows others are claiming)."""
        ...

    async def next_due_at(self) -> datetime | None:
        """When the next payment becomes due and unclaimed (None: no work scheduled)."""
        ...

    async def held_for_cancelled_orders(self) -> HeldForCancelledOrders:
        """How many payments of cancelled orders may still hold money, since when the oldest."""
        ...

    async def add_tombstone(self, cancelled: CancelledOrder) -> None:
        """Remember a cancel that came before any payment request (once per order)."""
        ...

    async def get_tombstone(
        self, *, org_id: uuid.UUID, order_id: uuid.UUID
    ) -> CancelledOrder | None:
        """The order's early cancel, or None."""
        ...


class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
    """One transaction: the repository, staged events, a wake-up of the worker, commit."""

    @property
    def payments(self) -> PaymentRepository:
        """Payments, in this transaction."""
        ...

    def wake_worker(self) -> None:
        """Wake the payment worker once this transaction has committed (work is due now)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """One authorisation to ask for; the same payment always sends the same request."""

    idempotency_key: str
    amount: Money
    reference: str


@dataclass(frozen=True, slots=True)
class ProviderAuthorization:
    """An authorisation as the provider lists it (status: authorized, declined or voided)."""

    id: str
    status: str


class PaymentProvider(Protocol):
    """The external payment provider, behind timeouts, retries and a circuit breaker.

    ``authorize`` never raises for the provider's trouble: it reports every call it made and
    how the run ended (``Unavailable`` when its retry budget is spent or the circuit is open).
    ``void`` and ``find_authorizations`` raise a transient ``shared.errors.InfrastructureError``
    when the provider cannot answer.
    """

    @property
    def name(self) -> str:
        """The provider's name, as payments reports it."""
        ...

    async def authorize(self, request: AuthorizationRequest) -> AuthorizationResult:
        """Ask for an authorisation with the request's idempotency key (retried within budget)."""
        ...

    async def find_authorizations(self, reference: str) -> Sequence[ProviderAuthorization]:
        """Every authorisation the provider holds under ``reference``, oldest first."""
        ...

    async def void(self, authorization_id: str) -> bool:
        """Release an authorisation; True if it is (now or already) voided, False if there was
        nothing to void (unknown, or declined)."""
        ...
