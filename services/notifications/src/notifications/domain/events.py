"""Notifications' domain events (past tense); the messaging adapter maps them to
``webhook_delivery.succeeded`` / ``webhook_delivery.failed`` on ``notifications.events``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from notifications.domain.values import AttemptError, WebhookEventType

__all__ = ["DomainEvent", "WebhookDeliveryFailed", "WebhookDeliverySucceeded"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DomainEvent:
    """Something that happened to one delivery, in one org."""

    org_id: uuid.UUID
    occurred_at: datetime
    delivery_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: WebhookEventType
    attempts: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDeliverySucceeded(DomainEvent):
    """The endpoint acknowledged the delivery with a 2xx."""

    response_status: int


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookDeliveryFailed(DomainEvent):
    """The last attempt failed (or the endpoint answered 410 Gone): the delivery is dead."""

    last_response_status: int | None
    last_error: AttemptError
