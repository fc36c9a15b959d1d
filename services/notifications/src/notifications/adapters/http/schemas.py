"""Request and response bodies of notifications' internal API
(contracts/openapi/notifications.yaml)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from notifications.domain.delivery import Attempt, Delivery
from notifications.domain.endpoint import WebhookEndpoint
from notifications.domain.values import (
    AttemptError,
    DeliveryStatus,
    SigningSecret,
    WebhookEventType,
)

__all__ = [
    "CreateWebhookEndpointRequest",
    "WebhookDeliveryAttemptBody",
    "WebhookDeliveryBody",
    "WebhookDeliveryPage",
    "WebhookEndpointBody",
    "WebhookEndpointPage",
    "WebhookEndpointWithSecretBody",
    "present_created",
]

# A format, not a secret (for the linters below).
SECRET_PATTERN = r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$"  # noqa: S105  # nosec B105


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CreateWebhookEndpointRequest(_Body):
    """POST /webhook-endpoints (the URL's rules are the domain's: https, public host...)."""

    url: Annotated[str, Field(min_length=1, max_length=2048)]
    event_types: Annotated[list[WebhookEventType], Field(min_length=1, max_length=6)]
    description: Annotated[str | None, Field(max_length=500)] = None
    secret: Annotated[str | None, Field(max_length=128, pattern=SECRET_PATTERN)] = None


class WebhookEndpointBody(_Body):
    """An endpoint (never its secret)."""

    id: uuid.UUID
    url: str
    description: str | None
    event_types: list[WebhookEventType]
    enabled: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookEndpointBody:
        """The body of an endpoint."""
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            enabled=endpoint.enabled,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class WebhookEndpointWithSecretBody(WebhookEndpointBody):
    """An endpoint as created: with its signing secret, returned only once."""

    secret: str


def present_created(endpoint: WebhookEndpoint, secret: SigningSecret) -> dict[str, Any]:
    """The 201 body of a created endpoint (stored with its idempotency key)."""
    body = WebhookEndpointBody.of(endpoint).model_dump(mode="json")
    return WebhookEndpointWithSecretBody(**body, secret=secret.reveal()).model_dump(mode="json")


class WebhookEndpointPage(_Body):
    """One page of endpoints."""

    items: list[WebhookEndpointBody]
    next_cursor: str | None


class WebhookDeliveryAttemptBody(_Body):
    """One attempt of a delivery."""

    number: Annotated[int, Field(ge=1)]
    attempted_at: datetime
    response_status: int | None
    duration_ms: Annotated[int, Field(ge=0)]
    error: AttemptError | None

    @classmethod
    def of(cls, attempt: Attempt) -> WebhookDeliveryAttemptBody:
        """The body of an attempt."""
        return cls(
            number=attempt.number,
            attempted_at=attempt.attempted_at,
            response_status=attempt.response_status,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
        )


class WebhookDeliveryBody(_Body):
    """A delivery with its attempts."""

    id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: WebhookEventType
    status: DeliveryStatus
    attempts: list[WebhookDeliveryAttemptBody]
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None

    @classmethod
    def of(cls, delivery: Delivery) -> WebhookDeliveryBody:
        """The body of a delivery."""
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=[WebhookDeliveryAttemptBody.of(a) for a in delivery.attempts],
            next_attempt_at=delivery.next_attempt_at,
            created_at=delivery.created_at,
            updated_at=delivery.updated_at,
            delivered_at=delivery.delivered_at,
        )


class WebhookDeliveryPage(_Body):
    """One page of the delivery log."""

    items: list[WebhookDeliveryBody]
    next_cursor: str | None
