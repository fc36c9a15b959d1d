"""A delivery: one event to one endpoint, tried until it succeeds or its schedule runs out.

A delivery is unique per (endpoint, event id). Each attempt is recorded (status code, error,
duration, time); the outcome of the whole delivery is a domain event: succeeded on a 2xx,
failed after the last attempt or at once on ``410 Gone`` (the endpoint is then disabled by the
use case). While the endpoint's circuit is open an attempt is not made but still recorded, as
``circuit_open``, and counts toward the schedule: a delivery to an endpoint that stays down
dies on time instead of waiting forever.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from notifications.domain.events import (
    DomainEvent,
    WebhookDeliveryFailed,
    WebhookDeliverySucceeded,
)
from notifications.domain.retry import RetrySchedule
from notifications.domain.values import AttemptError, DeliveryStatus, WebhookEventType

__all__ = ["GONE", "Attempt", "Delivery"]

GONE = 410


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try: when, how the endpoint answered (None: no answer), how long it took, why not."""

    number: int
    attempted_at: datetime
    response_status: int | None
    duration_ms: int
    error: AttemptError | None

    @classmethod
    def of(
        cls,
        *,
        number: int,
        at: datetime,
        response_status: int | None,
        duration_ms: int,
        error: AttemptError | None,
    ) -> Attempt:
        """An attempt whose error follows from the answer: a non-2xx status is ``http_status``."""
        if error is None:
            if response_status is None:
                raise ValueError("an attempt without an answer needs an error")
            if not 200 <= response_status < 300:
                error = AttemptError.HTTP_STATUS
        return cls(number, at, response_status, max(duration_ms, 0), error)

    @property
    def succeeded(self) -> bool:
        """True for a 2xx answer."""
        return self.error is None

    @property
    def gone(self) -> bool:
        """True when the endpoint answered ``410 Gone``: it wants no more deliveries."""
        return self.response_status == GONE


@dataclass(eq=False)
class Delivery:
    """The delivery of one event to one endpoint."""

    id: uuid.UUID
    org_id: uuid.UUID
    endpoint_id: uuid.UUID
    event_id: uuid.UUID
    event_type: WebhookEventType
    body: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None
    # Opaque propagation headers (W3C trace context) of the event that scheduled it, kept by
    # the adapter so that attempts are traced as part of that event's trace.
    trace_context: Mapping[str, str] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    @classmethod
    def schedule(
        cls,
        *,
        id: uuid.UUID,
        org_id: uuid.UUID,
        endpoint_id: uuid.UUID,
        event_id: uuid.UUID,
        event_type: WebhookEventType,
        body: str,
        now: datetime,
    ) -> Delivery:
        """A new delivery, due at once."""
        return cls(
            id=id,
            org_id=org_id,
            endpoint_id=endpoint_id,
            event_id=event_id,
            event_type=event_type,
            body=body,
            status=DeliveryStatus.PENDING,
            attempt_count=0,
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded since the last pull."""
        events, self._events = self._events, []
        return events

    def record(
        self,
        attempt: Attempt,
        *,
        schedule: RetrySchedule,
        draw: float,
        not_before: datetime | None = None,
    ) -> None:
        """Apply one attempt's outcome: succeeded, retrying (next try per the schedule, not
        before ``not_before``), or failed when it was the last attempt or the endpoint is gone.
        """
        if not self.status.is_open:
            raise ValueError(f"delivery {self.id} is {self.status}: no more attempts")
        if attempt.number != self.attempt_count + 1:
            raise ValueError(f"attempt {attempt.number} follows attempt {self.attempt_count}")
        at = attempt.attempted_at
        self.attempts.append(attempt)
        self.attempt_count = attempt.number
        self.updated_at = at
        if attempt.succeeded:
            self.status, self.next_attempt_at, self.delivered_at = (
                DeliveryStatus.SUCCEEDED,
                None,
                at,
            )
            self._events.append(
                WebhookDeliverySucceeded(
                    org_id=self.org_id,
                    occurred_at=at,
                    delivery_id=self.id,
                    endpoint_id=self.endpoint_id,
                    event_id=self.event_id,
                    event_type=self.event_type,
                    attempts=self.attempt_count,
                    response_status=attempt.response_status or 0,
                )
            )
            return
        if attempt.gone or attempt.number >= schedule.max_attempts:
            self.status, self.next_attempt_at = DeliveryStatus.FAILED, None
            self._events.append(
                WebhookDeliveryFailed(
                    org_id=self.org_id,
                    occurred_at=at,
                    delivery_id=self.id,
                    endpoint_id=self.endpoint_id,
                    event_id=self.event_id,
                    event_type=self.event_type,
                    attempts=self.attempt_count,
                    last_response_status=attempt.response_status,
                    last_error=attempt.error or AttemptError.HTTP_STATUS,
                )
            )
            return
        due = at + schedule.delay_after(attempt.number, draw)
        if not_before is not None and not_before > due:
            due = not_before
        self.status, self.next_attempt_at = DeliveryStatus.RETRYING, due

    def abandon(self, now: datetime) -> bool:
        """Give up without another attempt (its endpoint was deleted or disabled).

        The delivery ends ``failed`` without an outcome event: nobody waits for it any more.
        Returns False when it had already ended.
        """
        if not self.status.is_open:
            return False
        self.status, self.next_attempt_at, self.updated_at = DeliveryStatus.FAILED, None, now
        return True
