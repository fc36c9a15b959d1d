"""A webhook endpoint: a URL of one org, the event types it wants, and its signing secret.

An endpoint is *enabled* until notifications disables it: at once when it answers ``410 Gone``,
or when its deliveries keep dying for longer than the configured window (no success since).
Deleting it is final: its secret is erased, its open deliveries are abandoned, and its delivery
log stays readable until the retention purge.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from notifications.domain.errors import InvalidEndpointError
from notifications.domain.urls import check_endpoint_url
from notifications.domain.values import SigningSecret, WebhookEventType
from shared.errors import FieldError

__all__ = ["DISABLED_FAILING", "DISABLED_GONE", "MAX_DESCRIPTION", "WebhookEndpoint"]

MAX_DESCRIPTION = 500
DISABLED_GONE = "gone"
DISABLED_FAILING = "failing"


def _event_types(values: Iterable[WebhookEventType | str]) -> tuple[WebhookEventType, ...]:
    seen: list[WebhookEventType] = []
    for value in values:
        try:
            event_type = WebhookEventType(value)
        except ValueError:
            raise InvalidEndpointError(
                "Unknown event type.",
                errors=[FieldError("body.event_types", "unknown event type", "enum")],
            ) from None
        if event_type in seen:
            raise InvalidEndpointError(
                "Event types must be unique.",
                errors=[FieldError("body.event_types", "duplicate event type", "value_error")],
            )
        seen.append(event_type)
    if not seen:
        raise InvalidEndpointError(
            "At least one event type is required.",
            errors=[FieldError("body.event_types", "at least one event type", "too_short")],
        )
    return tuple(seen)


@dataclass(eq=False)
class WebhookEndpoint:
    """One registered URL of an org.

    Attributes:
        secret: None once the endpoint is deleted (the secret is erased).
        failing_since: when the first failed attempt after the last success happened.
        disabled_reason: ``gone`` (410) or ``failing`` (dead deliveries for too long).
    """

    id: uuid.UUID
    org_id: uuid.UUID
    url: str
    description: str | None
    event_types: tuple[WebhookEventType, ...]
    secret: SigningSecret | None
    enabled: bool
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    failing_since: datetime | None = None
    deleted_at: datetime | None = None

    @classmethod
    def register(
        cls,
        *,
        id: uuid.UUID,
        org_id: uuid.UUID,
        url: str,
        event_types: Iterable[WebhookEventType | str],
        secret: SigningSecret,
        now: datetime,
        allow_loopback_http: bool,
        description: str | None = None,
    ) -> WebhookEndpoint:
        """A new, enabled endpoint; the URL and the other fields are validated here."""
        if description is not None and len(description) > MAX_DESCRIPTION:
            raise InvalidEndpointError(
                "The description is too long.",
                errors=[FieldError("body.description", "at most 500 characters", "too_long")],
            )
        return cls(
            id=id,
            org_id=org_id,
            url=check_endpoint_url(url, allow_loopback_http=allow_loopback_http),
            description=description,
            event_types=_event_types(event_types),
            secret=secret,
            enabled=True,
            created_at=now,
            updated_at=now,
        )

    @property
    def deleted(self) -> bool:
        """True once deleted (it then answers 404 and is never delivered to)."""
        return self.deleted_at is not None

    @property
    def deliverable(self) -> bool:
        """True while deliveries may be sent to it."""
        return self.enabled and not self.deleted and self.secret is not None

    def subscribes_to(self, event_type: WebhookEventType) -> bool:
        """True if the endpoint wants events of ``event_type``."""
        return event_type in self.event_types

    def delete(self, now: datetime) -> None:
        """Delete it for good and erase its secret."""
        self.deleted_at = now
        self.secret = None
        self.updated_at = now

    def disable(self, reason: str, now: datetime) -> None:
        """Stop delivering to it (no-op when already disabled)."""
        if not self.enabled:
            return
        self.enabled = False
        self.disabled_reason = reason
        self.updated_at = now

    def note_success(self) -> bool:
        """A delivery succeeded; return True if that changed the endpoint (it was failing)."""
        changed = self.failing_since is not None
        self.failing_since = None
        return changed

    def note_failure(self, at: datetime) -> bool:
        """An attempt failed; return True if that changed the endpoint (it starts failing)."""
        if self.failing_since is not None:
            return False
        self.failing_since = at
        return True

    def failing_for_longer_than(self, window: timedelta, now: datetime) -> bool:
        """True if every attempt since ``now - window`` (and before) has failed."""
        return self.failing_since is not None and now - self.failing_since >= window
