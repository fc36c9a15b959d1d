"""The consumer's handlers turn events into the use case's input, or refuse them (permanent)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from notifications.adapters.messaging.handlers import (
    MAX_PAYLOAD_BYTES,
    ORDER_HANDLED,
    ORDERS_EVENTS,
    PAYMENT_HANDLED,
    PAYMENTS_EVENTS,
    to_input,
)
from notifications.domain.values import WebhookEventType
from shared.errors import ValidationError
from shared.inbox import InboxEvent

ORG = uuid.UUID("01938f6e-0000-7000-8000-0000000000aa")
OTHER_ORG = "01938f6e-0000-7000-8000-0000000000bb"
CE_TIME = datetime(2026, 11, 26, 12, 0, 3, tzinfo=UTC)


def event(data: Any, *, org: str | None = str(ORG), time: datetime | None = CE_TIME) -> InboxEvent:
    return InboxEvent(
        id=str(uuid.uuid4()),
        type="ordo.orders.order.confirmed.v1",
        source="/ordo/orders",
        subject=None,
        time=time,
        org_id=org,
        key=None,
        data=data,
        headers=(),
        topic="orders.events",
        partition=0,
        offset=0,
        attempt=1,
    )


def confirmed(**overrides: Any) -> dict[str, Any]:
    return {
        "order_id": str(uuid.uuid4()),
        "org_id": str(ORG),
        "confirmed_at": "2026-11-26T12:00:02Z",
    } | overrides


def test_the_subscribable_types_are_exactly_the_contracts() -> None:
    assert set(ORDER_HANDLED.values()) | set(PAYMENT_HANDLED.values()) == set(WebhookEventType)
    assert not set(ORDER_HANDLED) & ORDERS_EVENTS.ignores
    assert not set(PAYMENT_HANDLED) & PAYMENTS_EVENTS.ignores


def test_an_event_becomes_the_input_with_its_payload_untouched() -> None:
    data = confirmed()
    source = event(data)
    command = to_input(source, WebhookEventType.ORDER_CONFIRMED)
    assert command.org_id == ORG
    assert str(command.event_id) == source.id
    assert command.occurred_at == CE_TIME
    assert command.data is data


def test_without_ce_time_the_payloads_own_time_is_used() -> None:
    command = to_input(event(confirmed(), time=None), WebhookEventType.ORDER_CONFIRMED)
    assert command.occurred_at == datetime(2026, 11, 26, 12, 0, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("data", "org"),
    [
        (["not", "an", "object"], str(ORG)),
        (confirmed(org_id="nope"), str(ORG)),
        (confirmed(order_id=None), str(ORG)),
        (confirmed(), OTHER_ORG),  # the envelope names another org
        (confirmed(padding="x" * MAX_PAYLOAD_BYTES), str(ORG)),
    ],
    ids=["not-an-object", "bad-org", "no-order", "other-org", "too-large"],
)
def test_bad_events_are_refused(data: Any, org: str) -> None:
    with pytest.raises(ValidationError):
        to_input(event(data, org=org), WebhookEventType.ORDER_CONFIRMED)


def test_an_event_without_any_time_is_refused() -> None:
    with pytest.raises(ValidationError, match="time"):
        to_input(event(confirmed(confirmed_at="soon"), time=None), WebhookEventType.ORDER_CONFIRMED)
