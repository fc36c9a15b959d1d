"""Domain events -> integration events on ``identity.events``, as contracts/asyncapi/identity.yaml
describes them: CloudEvents type ``ordo.identity.<name>.v1``, JSON payload without PII.
"""

from __future__ import annotations

from typing import Any

from identity.domain.events import DomainEvent, MembershipChanged, UserRegistered
from shared.clock import rfc3339
from shared.outbox import OutboxMessage

__all__ = ["EVENT_TYPES", "SOURCE", "TOPIC", "to_message"]

TOPIC = "identity.events"
SOURCE = "/ordo/identity"
EVENT_TYPES = {
    "user.registered": "ordo.identity.user.registered.v1",
    "membership.changed": "ordo.identity.membership.changed.v1",
}


def to_message(event: DomainEvent) -> OutboxMessage:
    """Return the outbox message of ``event``; the key orders what must stay ordered."""
    payload: dict[str, Any]
    if isinstance(event, UserRegistered):
        payload = {
            "user_id": str(event.user_id),
            "org_id": str(event.org_id),
            "registered_at": rfc3339(event.occurred_at),
        }
        return OutboxMessage(
            topic=TOPIC,
            key=str(event.user_id),
            type=EVENT_TYPES["user.registered"],
            payload=payload,
            org_id=event.org_id,
            time=event.occurred_at,
        )
    if isinstance(event, MembershipChanged):
        payload = {
            "org_id": str(event.org_id),
            "user_id": str(event.user_id),
            "change": event.change.value,
            "role": event.role.value if event.role is not None else None,
            "previous_role": event.previous_role.value if event.previous_role else None,
            "changed_by": str(event.changed_by),
            "changed_at": rfc3339(event.occurred_at),
        }
        # Keyed by org: every change to an org's membership is applied in order.
        return OutboxMessage(
            topic=TOPIC,
            key=str(event.org_id),
            type=EVENT_TYPES["membership.changed"],
            payload=payload,
            subject=str(event.user_id),
            org_id=event.org_id,
            time=event.occurred_at,
        )
    raise TypeError(f"no integration event for {type(event).__name__}")
