"""Payments' saga handlers for ``orders.events`` (group ``payments``), run by shared.inbox.

``order.payment_requested`` asks for a payment; ``order.cancel_requested`` and, as a second
chance, ``order.cancelled`` cancel it (voiding any authorisation).

Each handler validates the payload (contracts/asyncapi/orders.yaml), then runs its use case
inside the consumer's unit of work, so the payment, the tombstone or the cancel, and the inbox
claim of the event commit together; the worker is woken after that commit and calls the
provider outside it. Invalid payloads are permanent failures (dead letter, with the reason).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from payments.adapters.persistence.unit_of_work import PaymentsUnitOfWork
from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.domain.values import MAX_AMOUNT, Money
from shared.inbox import Handler, InboxEvent
from shared.inbox.subscription import Subscription

__all__ = [
    "ORDERS_EVENTS",
    "ORDER_CANCELLED",
    "ORDER_CANCEL_REQUESTED",
    "ORDER_PAYMENT_REQUESTED",
    "build_handlers",
]

ORDER_PAYMENT_REQUESTED = "ordo.orders.order.payment_requested.v1"
ORDER_CANCEL_REQUESTED = "ordo.orders.order.cancel_requested.v1"
# A cancelled order's payment is cancelled (voided) again: a second chance for an authorisation
# whose cancel request never took effect here. Idempotent, and rare next to the saga's traffic.
ORDER_CANCELLED = "ordo.orders.order.cancelled.v1"
# What payments does with each type of orders.events (checked against the contracts by
# tests/unit/test_subscriptions.py). The ignored ones are acknowledged without a transaction.
# A rejected order never asked for payment (it is rejected at the stock step, before any
# payment request), so it can hold nothing.
ORDERS_EVENTS = Subscription(
    "orders.events",
    handles={ORDER_PAYMENT_REQUESTED, ORDER_CANCEL_REQUESTED, ORDER_CANCELLED},
    ignores={
        "ordo.orders.order.placed.v1",
        "ordo.orders.order.confirmed.v1",
        "ordo.orders.order.rejected.v1",
    },
)


class _Order(BaseModel):
    """The fields of an order event payments reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    org_id: uuid.UUID


class _Money(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    amount_minor: Annotated[int, Field(ge=0, le=MAX_AMOUNT, strict=True)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _PaymentRequested(_Order):
    amount: _Money


def build_handlers(use_cases: PaymentsUseCases) -> dict[str, Handler[Any]]:
    """Return ``{ce_type: handler}`` for the consumer of ``orders.events``."""

    async def on_order_payment_requested(event: InboxEvent, uow: PaymentsUnitOfWork) -> None:
        requested = _PaymentRequested.model_validate(event.data)
        event.require_org(requested.org_id)
        await use_cases.request_payment.apply(
            uow,
            RequestPaymentInput(
                org_id=requested.org_id,
                order_id=requested.order_id,
                amount=Money(requested.amount.amount_minor, requested.amount.currency),
                causation_id=event.causation_id(),
            ),
        )

    async def on_order_cancel_requested(event: InboxEvent, uow: PaymentsUnitOfWork) -> None:
        order = _Order.model_validate(event.data)
        event.require_org(order.org_id)
        await use_cases.cancel_payment.apply(
            uow,
            CancelPaymentInput(
                org_id=order.org_id, order_id=order.order_id, causation_id=event.causation_id()
            ),
        )

    async def on_order_cancelled(event: InboxEvent, uow: PaymentsUnitOfWork) -> None:
        order = _Order.model_validate(event.data)
        event.require_org(order.org_id)
        await use_cases.cancel_payment.apply(
            uow,
            CancelPaymentInput(
                org_id=order.org_id,
                order_id=order.order_id,
                causation_id=event.causation_id(),
                order_closed=True,
            ),
        )

    return ORDERS_EVENTS.table(
        {
            ORDER_PAYMENT_REQUESTED: on_order_payment_requested,
            ORDER_CANCEL_REQUESTED: on_order_cancel_requested,
            ORDER_CANCELLED: on_order_cancelled,
        }
    )
