"""Domain events -> integration events on ``notifications.events``
(contracts/asyncapi/notifications.yaml): keyed by delivery id, CloudEvents type
``ordo.notifications.webhook_delivery.<outcome>.v1``.
"""

from __future__ import annotations

from typing import Any

from notifications.domain.events import (
    DomainEvent,
    WebhookDeliveryFailed,
    WebhookDeliverySucceeded,
)
from shared.clock import rfc3339
from shared.outbox import OutboxMessage

__all__ = ["EVENT_TYPES", "SOURCE", "TOPIC", "to_message"]

TOPIC = "notifications.events"
SOURCE = "/ordo/notifications"
EVENT_TYPES = {
    WebhookDeliverySucceeded: "ordo.notifications.webhook_delivery.succeeded.v1",
    WebhookDeliveryFailed: "ordo.notifications.webhook_delivery.failed.v1",
}


def _payload(event: DomainEvent) -> dict[str, Any]:
    base: dict[str, Any] = {
        "delivery_id": str(event.delivery_id),
        "endpoint_id": str(event.endpoint_id),
        "org_id": str(event.org_id),
        "event_id": str(event.event_id),
        "event_type": event.event_type.value,
        "attempts": event.attempts,
    }
    match event:
        case WebhookDeliverySucceeded():
            return base | {
                "response_status": event.response_status,
                "delivered_at": rfc3339(event.occurred_at),
            }
        case WebhookDeliveryFailed():
            return base | {
                "last_response_status": event.last_response_status,
                "last_error": event.last_error.value,
                "failed_at": rfc3339(event.occurred_at),
            }
    raise TypeError(f"no integration event for {type(event).__name__}")


def to_message(event: DomainEvent) -> OutboxMessage:
    """The outbox message of ``event``, keyed by its delivery id."""
    key = str(event.delivery_id)
    return OutboxMessage(
        topic=TOPIC,
        key=key,
        type=EVENT_TYPES[type(event)],
        payload=_payload(event),
        subject=key,
        org_id=event.org_id,
        time=event.occurred_at,
    )
