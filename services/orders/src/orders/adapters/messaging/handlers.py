"""Orders' saga handlers (group ``orders``), run by shared.inbox's idempotent consumer:
``catalog.events`` (stock reserved, rejected, released) and ``payments.events`` (payment
authorised, failed, deferred).

Each handler validates its payload (contracts/asyncapi/catalog.yaml and payments.yaml), then
runs its use case inside the consumer's unit of work, so the order's change, the outbox rows of
its events and the inbox claim commit together. An invalid payload, an org that differs from
the envelope's, or a reply for an order that does not exist is a permanent failure (dead letter
with the reason); a reply the order no longer needs is applied as a no-op.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from orders.adapters.persistence.unit_of_work import OrdersUnitOfWork
from orders.application.facade import OrdersUseCases
from orders.application.use_cases.on_payment_authorization_deferred import PaymentDeferredInput
from orders.application.use_cases.on_payment_authorized import PaymentAuthorizedInput
from orders.application.use_cases.on_payment_failed import PaymentFailedInput
from orders.application.use_cases.on_stock_rejected import StockRejectedInput
from orders.application.use_cases.on_stock_released import StockReleasedInput
from orders.application.use_cases.on_stock_reserved import StockReservedInput
from orders.domain.values import Money, OrderLine, RejectedLine
from shared.inbox import Handler, InboxEvent
from shared.inbox.subscription import Subscription

__all__ = [
    "CATALOG_EVENTS",
    "PAYMENTS_EVENTS",
    "PAYMENT_AUTHORIZATION_DEFERRED",
    "PAYMENT_AUTHORIZED",
    "PAYMENT_FAILED",
    "STOCK_REJECTED",
    "STOCK_RELEASED",
    "STOCK_RESERVED",
    "build_catalog_handlers",
    "build_payment_handlers",
]

STOCK_RESERVED = "ordo.catalog.stock.reserved.v1"
STOCK_REJECTED = "ordo.catalog.stock.rejected.v1"
STOCK_RELEASED = "ordo.catalog.stock.released.v1"
PAYMENT_AUTHORIZED = "ordo.payments.payment.authorized.v1"
PAYMENT_FAILED = "ordo.payments.payment.failed.v1"
PAYMENT_AUTHORIZATION_DEFERRED = "ordo.payments.payment.authorization_deferred.v1"
# What orders does with each type of the topics it reads (checked against the contracts by
# tests/unit/test_subscriptions.py). The ignored ones are acknowledged without a transaction.
CATALOG_EVENTS = Subscription(
    "catalog.events",
    handles={STOCK_RESERVED, STOCK_REJECTED, STOCK_RELEASED},
    ignores={
        "ordo.catalog.product.created.v1",
        "ordo.catalog.product.price_changed.v1",
        "ordo.catalog.stock.level_changed.v1",
        "ordo.catalog.stock.committed.v1",
    },
)
PAYMENTS_EVENTS = Subscription(
    "payments.events",
    handles={PAYMENT_AUTHORIZED, PAYMENT_FAILED, PAYMENT_AUTHORIZATION_DEFERRED},
    ignores={"ordo.payments.payment.voided.v1"},
)

_SKU = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
_CURRENCY = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _Money(_Model):
    amount_minor: Annotated[int, Field(ge=0, le=900_000_000_000_000)]
    currency: _CURRENCY

    def to_domain(self) -> Money:
        return Money(self.amount_minor, self.currency)


class _Reply(_Model):
    """The fields every saga reply carries."""

    order_id: uuid.UUID
    org_id: uuid.UUID


M = TypeVar("M", bound=_Reply)


class _PricedLine(_Model):
    product_id: uuid.UUID
    sku: _SKU
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    unit_price: _Money
    line_total: _Money


class _StockReserved(_Reply):
    reservation_id: uuid.UUID
    lines: Annotated[list[_PricedLine], Field(min_length=1, max_length=100)]
    total: _Money


class _RejectedLine(_Model):
    sku: _SKU
    requested: Annotated[int, Field(ge=1)]
    available: Annotated[int | None, Field(ge=0)]


class _StockRejected(_Reply):
    reason: Literal["out_of_stock", "unknown_sku", "currency_mismatch"]
    rejected_lines: Annotated[list[_RejectedLine], Field(max_length=100)]


class _Payment(_Reply):
    payment_id: uuid.UUID


class _PaymentAuthorized(_Payment):
    amount: _Money


class _PaymentDeferred(_Payment):
    next_attempt_at: AwareDatetime


def _reply(model: type[M], event: InboxEvent) -> M:
    """Validate the payload; its org must be the envelope's (when the envelope names one)."""
    reply = model.model_validate(event.data)
    event.require_org(reply.org_id)
    return reply


def build_catalog_handlers(use_cases: OrdersUseCases) -> dict[str, Handler[Any]]:
    """Return ``{ce_type: handler}`` for the consumer of ``catalog.events``."""

    async def on_stock_reserved(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_StockReserved, event)
        lines = [
            OrderLine(ln.sku, ln.quantity, ln.product_id, ln.unit_price.to_domain())
            for ln in reply.lines
        ]
        await use_cases.on_stock_reserved.apply(
            uow,
            StockReservedInput(
                org_id=reply.org_id,
                order_id=reply.order_id,
                reservation_id=reply.reservation_id,
                lines=lines,
                total=reply.total.to_domain(),
            ),
        )

    async def on_stock_rejected(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_StockRejected, event)
        await use_cases.on_stock_rejected.apply(
            uow,
            StockRejectedInput(
                org_id=reply.org_id,
                order_id=reply.order_id,
                reason=reply.reason,
                rejected_lines=[
                    RejectedLine(ln.sku, ln.requested, ln.available) for ln in reply.rejected_lines
                ],
            ),
        )

    async def on_stock_released(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_Reply, event)
        await use_cases.on_stock_released.apply(
            uow, StockReleasedInput(org_id=reply.org_id, order_id=reply.order_id)
        )

    return CATALOG_EVENTS.table(
        {
            STOCK_RESERVED: on_stock_reserved,
            STOCK_REJECTED: on_stock_rejected,
            STOCK_RELEASED: on_stock_released,
        }
    )


def build_payment_handlers(use_cases: OrdersUseCases) -> dict[str, Handler[Any]]:
    """Return ``{ce_type: handler}`` for the consumer of ``payments.events``."""

    async def on_payment_authorized(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_PaymentAuthorized, event)
        await use_cases.on_payment_authorized.apply(
            uow,
            PaymentAuthorizedInput(
                org_id=reply.org_id,
                order_id=reply.order_id,
                payment_id=reply.payment_id,
                amount=reply.amount.to_domain(),
            ),
        )

    async def on_payment_failed(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_Payment, event)
        await use_cases.on_payment_failed.apply(
            uow,
            PaymentFailedInput(
                org_id=reply.org_id, order_id=reply.order_id, payment_id=reply.payment_id
            ),
        )

    async def on_payment_authorization_deferred(event: InboxEvent, uow: OrdersUnitOfWork) -> None:
        reply = _reply(_PaymentDeferred, event)
        await use_cases.on_payment_authorization_deferred.apply(
            uow,
            PaymentDeferredInput(
                org_id=reply.org_id,
                order_id=reply.order_id,
                next_attempt_at=reply.next_attempt_at,
            ),
        )

    return PAYMENTS_EVENTS.table(
        {
            PAYMENT_AUTHORIZED: on_payment_authorized,
            PAYMENT_FAILED: on_payment_failed,
            PAYMENT_AUTHORIZATION_DEFERRED: on_payment_authorization_deferred,
        }
    )
