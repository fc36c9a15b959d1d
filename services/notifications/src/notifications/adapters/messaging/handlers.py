"""Notifications' handlers for ``orders.events`` and ``payments.events`` (group
``notifications``), run by shared.inbox.

Each subscribable event (order.placed, order.confirmed, order.rejected, order.cancelled,
payment.authorized, payment.failed) schedules its deliveries inside the consumer's unit of work,
so the deliveries and the inbox claim of the event commit together. The payload is forwarded to
tenants as the webhook's ``data``, as published: it must be a JSON object naming its org (the
envelope's ``ce_orgid`` when there is one) and its order; anything else is a permanent failure
(dead letter). Saga commands and the payment events nobody subscribes to are skipped.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from notifications.adapters.persistence.unit_of_work import NotificationsUnitOfWork
from notifications.application.facade import NotificationsUseCases
from notifications.application.use_cases.schedule_deliveries import ScheduleDeliveriesInput
from notifications.domain.values import WebhookEventType
from shared.errors import ValidationError
from shared.inbox import Handler, InboxEvent
from shared.inbox.subscription import Subscription

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "ORDERS_EVENTS",
    "ORDER_HANDLED",
    "PAYMENTS_EVENTS",
    "PAYMENT_HANDLED",
    "build_order_handlers",
    "build_payment_handlers",
]

MAX_PAYLOAD_BYTES = 256 * 1024

ORDER_HANDLED = {
    "ordo.orders.order.placed.v1": WebhookEventType.ORDER_PLACED,
    "ordo.orders.order.confirmed.v1": WebhookEventType.ORDER_CONFIRMED,
    "ordo.orders.order.rejected.v1": WebhookEventType.ORDER_REJECTED,
    "ordo.orders.order.cancelled.v1": WebhookEventType.ORDER_CANCELLED,
}
# What notifications does with each type of the topics it reads (checked against the contracts
# by tests/unit/test_subscriptions.py). The ignored ones are acknowledged without a transaction.
ORDERS_EVENTS = Subscription(
    "orders.events",
    handles=ORDER_HANDLED,
    ignores={
        "ordo.orders.order.payment_requested.v1",
        "ordo.orders.order.cancel_requested.v1",
    },
)
PAYMENT_HANDLED = {
    "ordo.payments.payment.authorized.v1": WebhookEventType.PAYMENT_AUTHORIZED,
    "ordo.payments.payment.failed.v1": WebhookEventType.PAYMENT_FAILED,
}
PAYMENTS_EVENTS = Subscription(
    "payments.events",
    handles=PAYMENT_HANDLED,
    ignores={
        "ordo.payments.payment.authorization_deferred.v1",
        "ordo.payments.payment.voided.v1",
    },
)
# When the event happened, per type (the payload's own field), if the envelope has no ce_time.
_OCCURRED_AT = {
    WebhookEventType.ORDER_PLACED: "placed_at",
    WebhookEventType.ORDER_CONFIRMED: "confirmed_at",
    WebhookEventType.ORDER_REJECTED: "rejected_at",
    WebhookEventType.ORDER_CANCELLED: "cancelled_at",
    WebhookEventType.PAYMENT_AUTHORIZED: "authorized_at",
    WebhookEventType.PAYMENT_FAILED: "failed_at",
}


def _uuid(value: Any, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError(f"{what} is not a UUID.") from None


def _occurred_at(event: InboxEvent, event_type: WebhookEventType, data: dict[str, Any]) -> datetime:
    if event.time is not None:
        return event.time
    raw = data.get(_OCCURRED_AT[event_type])
    try:
        moment = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationError("The event has neither ce_time nor a valid time field.") from None
    if moment.tzinfo is None:
        raise ValidationError("The event's time has no timezone.")
    return moment


def to_input(event: InboxEvent, event_type: WebhookEventType) -> ScheduleDeliveriesInput:
    """Validate the event into the use case's input (permanent ``ValidationError`` otherwise)."""
    data = event.data
    if not isinstance(data, dict):
        raise ValidationError("The payload is not a JSON object.")
    if len(json.dumps(data, separators=(",", ":")).encode()) > MAX_PAYLOAD_BYTES:
        raise ValidationError("The payload is too large to deliver.")
    org_id = _uuid(data.get("org_id"), "org_id")
    _uuid(data.get("order_id"), "order_id")
    event.require_org(org_id)
    return ScheduleDeliveriesInput(
        org_id=org_id,
        event_id=_uuid(event.id, "ce_id"),
        event_type=event_type,
        occurred_at=_occurred_at(event, event_type, data),
        data=data,
    )


def _handlers(
    use_cases: NotificationsUseCases,
    handled: dict[str, WebhookEventType],
    subscription: Subscription,
) -> dict[str, Handler[Any]]:
    def on(event_type: WebhookEventType) -> Handler[NotificationsUnitOfWork]:
        async def handle(event: InboxEvent, uow: NotificationsUnitOfWork) -> None:
            await use_cases.schedule_deliveries.apply(uow, to_input(event, event_type))

        handle.__name__ = f"on_{event_type.value.replace('.', '_')}"
        return handle

    return subscription.table({ce_type: on(event_type) for ce_type, event_type in handled.items()})


def build_order_handlers(use_cases: NotificationsUseCases) -> dict[str, Handler[Any]]:
    """``{ce_type: handler}`` for the consumer of ``orders.events``."""
    return _handlers(use_cases, ORDER_HANDLED, ORDERS_EVENTS)


def build_payment_handlers(use_cases: NotificationsUseCases) -> dict[str, Handler[Any]]:
    """``{ce_type: handler}`` for the consumer of ``payments.events``."""
    return _handlers(use_cases, PAYMENT_HANDLED, PAYMENTS_EVENTS)
