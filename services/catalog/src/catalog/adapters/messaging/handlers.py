"""Catalog's saga handlers for ``orders.events`` (group ``catalog``), run by shared.inbox.

Each handler validates the payload (contracts/asyncapi/orders.yaml), then runs its use case
inside the consumer's unit of work, so the reservation, the outbox rows of the answer and the
inbox claim of the event commit together. Invalid payloads are permanent failures (dead letter).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from catalog.adapters.persistence.unit_of_work import CatalogUnitOfWork
from catalog.application.facade import CatalogUseCases
from catalog.application.use_cases.commit_reservation import CommitReservationInput
from catalog.application.use_cases.release_reservation import ReleaseReservationInput
from catalog.application.use_cases.reserve_for_order import ReserveForOrderInput
from catalog.domain.model import RequestedLine
from shared.inbox import Handler, InboxEvent
from shared.inbox.subscription import Subscription

__all__ = [
    "ORDERS_EVENTS",
    "ORDER_CANCEL_REQUESTED",
    "ORDER_CONFIRMED",
    "ORDER_PLACED",
    "build_handlers",
]

ORDER_PLACED = "ordo.orders.order.placed.v1"
ORDER_CANCEL_REQUESTED = "ordo.orders.order.cancel_requested.v1"
ORDER_CONFIRMED = "ordo.orders.order.confirmed.v1"
# What catalog does with each type of orders.events (checked against the contracts by
# tests/unit/test_subscriptions.py). The ignored ones are acknowledged without a transaction.
ORDERS_EVENTS = Subscription(
    "orders.events",
    handles={ORDER_PLACED, ORDER_CANCEL_REQUESTED, ORDER_CONFIRMED},
    ignores={
        "ordo.orders.order.payment_requested.v1",
        "ordo.orders.order.rejected.v1",
        "ordo.orders.order.cancelled.v1",
    },
)

_SKU = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Order(BaseModel):
    """The fields of an order event catalog reads (others are ignored)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    order_id: uuid.UUID
    org_id: uuid.UUID


class _PlacedLine(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sku: _SKU
    quantity: Annotated[int, Field(ge=1, le=10000)]


class _OrderPlaced(_Order):
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    lines: Annotated[list[_PlacedLine], Field(min_length=1, max_length=100)]


def build_handlers(use_cases: CatalogUseCases) -> dict[str, Handler[Any]]:
    """Return ``{ce_type: handler}`` for the consumer of ``orders.events``."""

    async def on_order_placed(event: InboxEvent, uow: CatalogUnitOfWork) -> None:
        placed = _OrderPlaced.model_validate(event.data)
        event.require_org(placed.org_id)
        await use_cases.reserve_for_order.apply(
            uow,
            ReserveForOrderInput(
                org_id=placed.org_id,
                order_id=placed.order_id,
                currency=placed.currency,
                lines=[RequestedLine(line.sku, line.quantity) for line in placed.lines],
                causation_id=event.causation_id(),
            ),
        )

    async def on_order_cancel_requested(event: InboxEvent, uow: CatalogUnitOfWork) -> None:
        order = _Order.model_validate(event.data)
        event.require_org(order.org_id)
        await use_cases.release_reservation.apply(
            uow,
            ReleaseReservationInput(
                org_id=order.org_id, order_id=order.order_id, causation_id=event.causation_id()
            ),
        )

    async def on_order_confirmed(event: InboxEvent, uow: CatalogUnitOfWork) -> None:
        order = _Order.model_validate(event.data)
        event.require_org(order.org_id)
        await use_cases.commit_reservation.apply(
            uow,
            CommitReservationInput(
                org_id=order.org_id, order_id=order.order_id, causation_id=event.causation_id()
            ),
        )

    return ORDERS_EVENTS.table(
        {
            ORDER_PLACED: on_order_placed,
            ORDER_CANCEL_REQUESTED: on_order_cancel_requested,
            ORDER_CONFIRMED: on_order_confirmed,
        }
    )
