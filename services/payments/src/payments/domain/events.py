"""Payments' domain events (past tense); the messaging adapter maps them to integration events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from payments.domain.values import DeferralReason, FailureReason, Money

__all__ = [
    "DomainEvent",
    "PaymentAuthorizationDeferred",
    "PaymentAuthorized",
    "PaymentFailed",
    "PaymentVoided",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to the payment of one order, in one org."""

    org_id: uuid.UUID
    occurred_at: datetime
    payment_id: uuid.UUID
    order_id: uuid.UUID


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentAuthorized(DomainEvent):
    """The provider holds the amount for the order."""

    causation_id: uuid.UUID
    amount: Money
    provider: str
    provider_reference: str
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentFailed(DomainEvent):
    """The provider refused for good."""

    causation_id: uuid.UUID
    amount: Money
    reason: FailureReason
    provider_code: str | None
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentAuthorizationDeferred(DomainEvent):
    """The provider was unavailable; the payment is tried again at ``next_attempt_at``."""

    reason: DeferralReason
    attempts: int
    next_attempt_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class PaymentVoided(DomainEvent):
    """The order was cancelled and the authorisation the provider held was released."""

    causation_id: uuid.UUID
    amount: Money
    provider_reference: str
