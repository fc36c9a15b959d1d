"""Domain events -> integration events on ``payments.events`` (contracts/asyncapi/payments.yaml).

CloudEvents type ``ordo.payments.<name>.v1``; every record is keyed by order id (payments holds
one payment per order, so the order is the unit of ordering end to end).
"""

from __future__ import annotations

from typing import Any

from payments.domain.events import (
    DomainEvent,
    PaymentAuthorizationDeferred,
    PaymentAuthorized,
    PaymentFailed,
    PaymentVoided,
)
from payments.domain.values import Money
from shared.clock import rfc3339
from shared.outbox import OutboxMessage

__all__ = ["EVENT_TYPES", "SOURCE", "TOPIC", "to_message"]

TOPIC = "payments.events"
SOURCE = "/ordo/payments"
EVENT_TYPES = {
    PaymentAuthorized: "ordo.payments.payment.authorized.v1",
    PaymentFailed: "ordo.payments.payment.failed.v1",
    PaymentAuthorizationDeferred: "ordo.payments.payment.authorization_deferred.v1",
    PaymentVoided: "ordo.payments.payment.voided.v1",
}


def _money(money: Money) -> dict[str, Any]:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _payload(event: DomainEvent) -> dict[str, Any]:
    base = {
        "payment_id": str(event.payment_id),
        "order_id": str(event.order_id),
        "org_id": str(event.org_id),
    }
    match event:
        case PaymentAuthorized():
            return base | {
                "causation_id": str(event.causation_id),
                "amount": _money(event.amount),
                "provider": event.provider,
                "provider_reference": event.provider_reference,
                "attempts": event.attempts,
                "authorized_at": rfc3339(event.occurred_at),
            }
        case PaymentFailed():
            return base | {
                "causation_id": str(event.causation_id),
                "amount": _money(event.amount),
                "reason": event.reason.value,
                "provider_code": event.provider_code,
                "attempts": event.attempts,
                "failed_at": rfc3339(event.occurred_at),
            }
        case PaymentAuthorizationDeferred():
            return base | {
                "reason": event.reason.value,
                "attempts": event.attempts,
                "next_attempt_at": rfc3339(event.next_attempt_at),
                "deferred_at": rfc3339(event.occurred_at),
            }
        case PaymentVoided():
            return base | {
                "causation_id": str(event.causation_id),
                "amount": _money(event.amount),
                "provider_reference": event.provider_reference,
                "voided_at": rfc3339(event.occurred_at),
            }
    raise TypeError(f"no integration event for {type(event).__name__}")


def to_message(event: DomainEvent) -> OutboxMessage:
    """Return the outbox message of ``event``, keyed by the order id."""
    key = str(event.order_id)
    return OutboxMessage(
        topic=TOPIC,
        key=key,
        type=EVENT_TYPES[type(event)],
        payload=_payload(event),
        subject=key,
        org_id=event.org_id,
        time=event.occurred_at,
    )
