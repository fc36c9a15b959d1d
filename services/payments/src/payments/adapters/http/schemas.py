"""Response bodies of payments' internal API (contracts/openapi/payments.yaml).

The status is the payment's own (the domain's ``PaymentStatus``, every value of which the
contract lists): a payment being voided is ``voiding``, one cancelled with nothing held at the
provider is ``cancelled``.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from payments.domain.payment import Payment
from payments.domain.values import Attempt, AttemptOutcome, FailureReason, PaymentStatus

__all__ = ["MoneyBody", "PaymentAttemptBody", "PaymentBody"]

# The statuses in which the worker still calls the provider (authorising, or voiding).
_RETRIED = frozenset({PaymentStatus.PENDING, PaymentStatus.VOIDING})


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyBody(_Body):
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: Annotated[int, Field(ge=0, le=900_000_000_000_000)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class PaymentAttemptBody(_Body):
    """One call to the provider (or one the open circuit refused)."""

    number: Annotated[int, Field(ge=1)]
    attempted_at: datetime
    outcome: AttemptOutcome
    provider_status: int | None = Field(description="The provider's HTTP status, when it answered.")
    duration_ms: Annotated[int, Field(ge=0)]

    @classmethod
    def of(cls, attempt: Attempt) -> PaymentAttemptBody:
        """The body of an attempt."""
        return cls(
            number=attempt.number,
            attempted_at=attempt.attempted_at,
            outcome=attempt.outcome,
            provider_status=attempt.provider_status,
            duration_ms=attempt.duration_ms,
        )


class PaymentBody(_Body):
    """The payment of an order and its attempts with the provider."""

    id: uuid.UUID
    order_id: uuid.UUID
    status: PaymentStatus
    amount: MoneyBody
    provider: str = Field(description="The payment provider's name.")
    provider_reference: str | None = Field(description="The provider's id of the authorisation.")
    failure_reason: FailureReason | None
    attempts: list[PaymentAttemptBody]
    next_attempt_at: datetime | None = Field(
        description="When a pending payment's authorisation or a voiding payment's void is tried."
    )
    created_at: datetime
    updated_at: datetime
    authorized_at: datetime | None

    @classmethod
    def of(cls, payment: Payment) -> PaymentBody:
        """The body of a payment."""
        return cls(
            id=payment.id,
            order_id=payment.order_id,
            status=payment.status,
            amount=MoneyBody(
                amount_minor=payment.amount.amount_minor, currency=payment.amount.currency
            ),
            provider=payment.provider,
            provider_reference=payment.provider_reference,
            failure_reason=payment.failure_reason,
            attempts=[PaymentAttemptBody.of(a) for a in payment.attempts],
            next_attempt_at=payment.next_attempt_at if payment.status in _RETRIED else None,
            created_at=payment.created_at,
            updated_at=payment.updated_at,
            authorized_at=payment.authorized_at,
        )
