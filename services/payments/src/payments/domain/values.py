"""Payments' value objects: money, statuses, attempts, and what the provider answered.

The provider's answers are domain values because the payment's transitions are decided by them:
``Authorized`` and ``Declined`` are definitive, ``Unavailable`` (errors, timeouts, an open
circuit) only postpones the payment.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "MAX_AMOUNT",
    "Attempt",
    "AttemptOutcome",
    "AuthorizationResult",
    "Authorized",
    "Declined",
    "DeferralReason",
    "FailureReason",
    "Money",
    "PaymentStatus",
    "ProviderCall",
    "Unavailable",
    "VoidResult",
]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = 900_000_000_000_000


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not 0 <= self.amount_minor <= MAX_AMOUNT:
            raise ValueError("an amount is between 0 and 9e14 minor units")
        if not _CURRENCY.match(self.currency):
            raise ValueError("a currency is three upper-case letters (ISO 4217)")


class PaymentStatus(enum.StrEnum):
    """Where a payment is in its life.

    ``pending`` (asked for; tried now or at ``next_attempt_at``) -> ``authorized`` | ``failed``.
    A cancel moves ``pending`` or ``authorized`` to ``voiding`` (the provider must be left holding
    nothing) and then ``voided`` (an authorisation was voided) or ``cancelled`` (none existed);
    a pending payment that never reached the provider is ``cancelled`` at once.
    """

    PENDING = "pending"
    AUTHORIZED = "authorized"
    FAILED = "failed"
    VOIDING = "voiding"
    VOIDED = "voided"
    CANCELLED = "cancelled"


class AttemptOutcome(enum.StrEnum):
    """How one call to the provider ended (``circuit_open``: it was not made)."""

    AUTHORIZED = "authorized"
    DECLINED = "declined"
    PROVIDER_ERROR = "provider_error"
    TIMEOUT = "timeout"
    CIRCUIT_OPEN = "circuit_open"


class FailureReason(enum.StrEnum):
    """Why the provider refused for good."""

    DECLINED = "declined"
    INSUFFICIENT_FUNDS = "insufficient_funds"
    PROVIDER_REJECTED = "provider_rejected"


class DeferralReason(enum.StrEnum):
    """Why an authorisation was postponed (the provider could not answer)."""

    PROVIDER_ERROR = "provider_error"
    PROVIDER_TIMEOUT = "provider_timeout"
    CIRCUIT_OPEN = "circuit_open"


@dataclass(frozen=True, slots=True)
class Attempt:
    """One recorded call (or a call the open circuit refused), numbered from 1 per payment."""

    number: int
    attempted_at: datetime
    outcome: AttemptOutcome
    provider_status: int | None
    duration_ms: int

    @property
    def reached_provider(self) -> bool:
        """True if a request was sent (its effect at the provider may be unknown to us)."""
        return self.outcome is not AttemptOutcome.CIRCUIT_OPEN


@dataclass(frozen=True, slots=True)
class ProviderCall:
    """One call as the provider adapter made it, before it is numbered into an ``Attempt``."""

    started_at: datetime
    outcome: AttemptOutcome
    provider_status: int | None
    duration_ms: int


@dataclass(frozen=True, slots=True)
class Authorized:
    """The provider holds the amount; ``reference`` is its authorisation id."""

    reference: str


@dataclass(frozen=True, slots=True)
class Declined:
    """The provider refused for good (a decline, or a request it will never accept)."""

    reason: FailureReason
    provider_code: str | None


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The provider could not answer within the retry budget (or its circuit is open)."""

    reason: DeferralReason


@dataclass(frozen=True, slots=True)
class AuthorizationResult:
    """What one authorisation run did: every call made, and how it ended."""

    calls: tuple[ProviderCall, ...]
    outcome: Authorized | Declined | Unavailable


@dataclass(frozen=True, slots=True)
class VoidResult:
    """What cancelling at the provider found: the authorisation voided, or None if none existed."""

    voided_reference: str | None
