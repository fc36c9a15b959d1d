"""The order aggregate: the saga's state machine, one terminal state per order, ever.

::

    pending ──stock reserved──> awaiting_payment ──payment authorised──> confirmed
       │  ├──stock reserved, total zero (nothing to pay)───────────────────> confirmed
       │  └──stock rejected──> rejected                 │
       └──cancel / stock timeout──┐   cancel / payment failed / payment timeout
                                  v                     │
                             cancelling <───────────────┘ ──stock released──> cancelled

Terminal: confirmed, rejected, cancelled. A saga reply that does not fit the current status
(late, duplicated, out of order) changes nothing and returns False: it is valid traffic, never
an error. Each change bumps ``version``; the events carry it as ``order_version``.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from orders.domain.errors import (
    InvalidOrderError,
    OrderNotCancellableError,
    PaymentMismatchError,
    ReservationMismatchError,
)
from orders.domain.events import (
    DomainEvent,
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderPaymentRequested,
    OrderPlaced,
    OrderRejected,
)
from orders.domain.values import MAX_LINES, Deadlines, Money, OrderLine, RejectedLine

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "CancelReason",
    "Order",
    "OrderStatus",
]


class OrderStatus(enum.StrEnum):
    """Where an order is in its saga."""

    PENDING = "pending"
    AWAITING_PAYMENT = "awaiting_payment"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    CANCELLING = "cancelling"
    CANCELLED = "cancelled"


class CancelReason(enum.StrEnum):
    """Why an order is being cancelled."""

    CUSTOMER_REQUESTED = "customer_requested"
    PAYMENT_FAILED = "payment_failed"
    PAYMENT_TIMEOUT = "payment_timeout"
    STOCK_TIMEOUT = "stock_timeout"


TERMINAL = frozenset({OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED})
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {
            OrderStatus.AWAITING_PAYMENT,
            OrderStatus.CONFIRMED,  # the total is zero: there is nothing to authorise
            OrderStatus.REJECTED,
            OrderStatus.CANCELLING,
        }
    ),
    OrderStatus.AWAITING_PAYMENT: frozenset({OrderStatus.CONFIRMED, OrderStatus.CANCELLING}),
    OrderStatus.CANCELLING: frozenset({OrderStatus.CANCELLED}),
    OrderStatus.CONFIRMED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}
_CANCELLABLE = frozenset({OrderStatus.PENDING, OrderStatus.AWAITING_PAYMENT})


@dataclass(eq=False)
class Order:
    """An order of one org and the state of its saga.

    ``deadline_at`` is the current step's deadline (None in a terminal state);
    ``payment_requested_at`` bounds how far payment deferrals may push it.
    """

    id: uuid.UUID
    org_id: uuid.UUID
    placed_by: uuid.UUID
    currency: str
    lines: tuple[OrderLine, ...]
    status: OrderStatus
    version: int
    placed_at: datetime
    updated_at: datetime
    deadline_at: datetime | None = None
    reservation_id: uuid.UUID | None = None
    payment_id: uuid.UUID | None = None
    total: Money | None = None
    status_reason: str | None = None
    confirmed_at: datetime | None = None
    closed_at: datetime | None = None
    payment_requested_at: datetime | None = None
    cancel_requested_by: uuid.UUID | None = None
    cancel_note: str | None = None
    _events: list[DomainEvent] = field(default_factory=list, repr=False)

    # -- creation -------------------------------------------------------------------------

    @classmethod
    def place(
        cls,
        *,
        id: uuid.UUID,
        org_id: uuid.UUID,
        placed_by: uuid.UUID,
        currency: str,
        lines: Sequence[OrderLine],
        now: datetime,
        deadlines: Deadlines,
    ) -> Order:
        """A new pending order at version 1 (records ``OrderPlaced``).

        Raises:
            InvalidOrderError: no lines, more than 100, a repeated SKU, or a bad currency.
        """
        Money(0, currency)  # validates the currency code
        if not 1 <= len(lines) <= MAX_LINES:
            raise InvalidOrderError("An order has between 1 and 100 lines.")
        skus = [line.sku for line in lines]
        if len(set(skus)) != len(skus):
            raise InvalidOrderError("An order has at most one line per SKU.")
        placed = tuple(OrderLine(line.sku, line.quantity) for line in lines)
        order = cls(
            id=id,
            org_id=org_id,
            placed_by=placed_by,
            currency=currency,
            lines=placed,
            status=OrderStatus.PENDING,
            version=1,
            placed_at=now,
            updated_at=now,
            deadline_at=now + deadlines.stock,
        )
        order._record(
            OrderPlaced,
            now,
            placed_by=placed_by,
            currency=currency,
            lines=placed,
        )
        return order

    # -- queries --------------------------------------------------------------------------

    @property
    def is_terminal(self) -> bool:
        """True once the order is confirmed, rejected or cancelled (for good)."""
        return self.status in TERMINAL

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded since the last pull."""
        events, self._events = self._events, []
        return events

    # -- saga replies ---------------------------------------------------------------------

    def stock_reserved(
        self,
        *,
        reservation_id: uuid.UUID,
        lines: Sequence[OrderLine],
        total: Money,
        now: datetime,
        deadlines: Deadlines,
    ) -> bool:
        """Stock is held and priced: price the lines and request the payment.

        An order whose total is zero has nothing to authorise (free items, full discounts): it
        is confirmed at once, with no payment. Only a pending order moves; any other status
        ignores the reply (False).

        Raises:
            ReservationMismatchError: the priced lines are not the order's, or their prices are
                in another currency, or ``total`` is not their sum.
        """
        if self.status is not OrderStatus.PENDING:
            return False
        priced = self._priced(lines, total)
        self.lines, self.total, self.reservation_id = priced, total, reservation_id
        if total.amount_minor == 0:
            self._confirm(now, payment_id=None)
            return True
        self.payment_requested_at = now
        self._move(OrderStatus.AWAITING_PAYMENT, now, deadline=now + deadlines.payment)
        self._record(OrderPaymentRequested, now, reservation_id=reservation_id, amount=total)
        return True

    def stock_rejected(
        self, *, reason: str, rejected_lines: Sequence[RejectedLine], now: datetime
    ) -> bool:
        """Catalog refused the stock: a pending order is rejected (terminal)."""
        if self.status is not OrderStatus.PENDING:
            return False
        self.status_reason = reason
        self._move(OrderStatus.REJECTED, now, deadline=None)
        self._record(OrderRejected, now, reason=reason, rejected_lines=tuple(rejected_lines))
        return True

    def payment_authorized(self, *, payment_id: uuid.UUID, amount: Money, now: datetime) -> bool:
        """Payment is authorised: an order awaiting payment is confirmed (terminal).

        Raises:
            PaymentMismatchError: the authorised amount is not the order's total.
        """
        if self.status is not OrderStatus.AWAITING_PAYMENT:
            return False
        if self.reservation_id is None or self.total is None:  # pragma: no cover - invariant
            raise RuntimeError("an order awaiting payment has a reservation and a total")
        if amount != self.total:
            raise PaymentMismatchError(details={"order_id": str(self.id)})
        self._confirm(now, payment_id=payment_id)
        return True

    def payment_failed(self, *, payment_id: uuid.UUID, now: datetime, deadlines: Deadlines) -> bool:
        """Payment was refused for good: an order awaiting payment is cancelled."""
        if self.status is not OrderStatus.AWAITING_PAYMENT:
            return False
        self.payment_id = payment_id
        self._request_cancel(CancelReason.PAYMENT_FAILED, None, now, deadlines)
        return True

    def payment_deferred(
        self, *, next_attempt_at: datetime, now: datetime, deadlines: Deadlines
    ) -> bool:
        """The provider is unavailable: give payments until its next attempt plus the payment
        step's time, never past ``payment_max_wait`` after the request, never earlier than now.
        """
        if self.status is not OrderStatus.AWAITING_PAYMENT or self.deadline_at is None:
            return False
        started = self.payment_requested_at or self.updated_at
        wanted = min(next_attempt_at + deadlines.payment, started + deadlines.payment_max_wait)
        if wanted <= self.deadline_at:
            return False
        self.deadline_at = wanted
        return True

    def stock_released(self, *, now: datetime) -> bool:
        """The compensations are done: a cancelling order is cancelled (terminal)."""
        if self.status is not OrderStatus.CANCELLING:
            return False
        self._move(OrderStatus.CANCELLED, now, deadline=None)
        self._record(OrderCancelled, now, reason=self._reason())
        return True

    # -- commands -------------------------------------------------------------------------

    def cancel(
        self, *, by: uuid.UUID, note: str | None, now: datetime, deadlines: Deadlines
    ) -> bool:
        """The customer cancels before confirmation; cancelling twice changes nothing.

        Raises:
            OrderNotCancellableError: the order is confirmed or rejected.
        """
        if self.status in (OrderStatus.CANCELLING, OrderStatus.CANCELLED):
            return False
        if self.status not in _CANCELLABLE:
            raise OrderNotCancellableError(details={"status": self.status.value})
        self.cancel_note = note
        self._request_cancel(CancelReason.CUSTOMER_REQUESTED, by, now, deadlines)
        return True

    def hold(self, *, now: datetime, deadlines: Deadlines) -> bool:
        """The saga's path is down (our infrastructure, not the customer): give the current
        step its full time again from now, never past the step's hard bound.

        Only a passed deadline of the stock or payment step is held. Returns False when there is
        nothing to hold, or when the hard bound (``stock_max_wait`` after placing,
        ``payment_max_wait`` after the payment request) is reached: :meth:`time_out` then
        cancels, outage or not.
        """
        if self.deadline_at is None or self.deadline_at > now:
            return False
        if self.status is OrderStatus.PENDING:
            step, bound = deadlines.stock, self.placed_at + deadlines.stock_max_wait
        elif self.status is OrderStatus.AWAITING_PAYMENT:
            started = self.payment_requested_at or self.updated_at
            step, bound = deadlines.payment, started + deadlines.payment_max_wait
        else:  # cancelling: asking again for the compensations is harmless (idempotent)
            return False
        if now >= bound:
            return False
        self.deadline_at = min(now + step, bound)
        return True

    def time_out(self, *, now: datetime, deadlines: Deadlines) -> bool:
        """Act on a passed deadline: cancel a step that took too long, or ask again for the
        compensations of a cancelling order that catalog has not answered yet.
        """
        if self.deadline_at is None or self.deadline_at > now or self.is_terminal:
            return False
        if self.status is OrderStatus.PENDING:
            self._request_cancel(CancelReason.STOCK_TIMEOUT, None, now, deadlines)
        elif self.status is OrderStatus.AWAITING_PAYMENT:
            self._request_cancel(CancelReason.PAYMENT_TIMEOUT, None, now, deadlines)
        else:  # cancelling: the request (or its answer) may be lost; releasing is idempotent
            self.deadline_at = now + deadlines.compensation_retry
            self._events.append(self._cancel_requested(now))
        return True

    # -- internals ------------------------------------------------------------------------

    def _request_cancel(
        self, reason: CancelReason, by: uuid.UUID | None, now: datetime, deadlines: Deadlines
    ) -> None:
        self.status_reason = reason.value
        self.cancel_requested_by = by
        self._move(OrderStatus.CANCELLING, now, deadline=now + deadlines.compensation_retry)
        self._events.append(self._cancel_requested(now))

    def _cancel_requested(self, now: datetime) -> OrderCancelRequested:
        return OrderCancelRequested(
            org_id=self.org_id,
            order_id=self.id,
            order_version=self.version,
            occurred_at=now,
            reason=self._reason(),
            requested_by=self.cancel_requested_by,
        )

    def _confirm(self, now: datetime, *, payment_id: uuid.UUID | None) -> None:
        if self.reservation_id is None or self.total is None:  # pragma: no cover - invariant
            raise RuntimeError("a confirmed order has a reservation and a total")
        self.payment_id = payment_id
        self.confirmed_at = now
        self._move(OrderStatus.CONFIRMED, now, deadline=None)
        self._record(
            OrderConfirmed,
            now,
            reservation_id=self.reservation_id,
            payment_id=payment_id,
            total=self.total,
            lines=self.lines,
        )

    def _reason(self) -> str:
        return self.status_reason or CancelReason.CUSTOMER_REQUESTED.value

    def _move(self, to: OrderStatus, now: datetime, *, deadline: datetime | None) -> None:
        if to not in TRANSITIONS[self.status]:  # pragma: no cover - guarded by every caller
            raise RuntimeError(f"no transition from {self.status} to {to}")
        self.status = to
        self.version += 1
        self.updated_at = now
        self.deadline_at = deadline
        if to in (OrderStatus.REJECTED, OrderStatus.CANCELLED):
            self.closed_at = now

    def _record(self, kind: type[DomainEvent], now: datetime, **fields: object) -> None:
        self._events.append(
            kind(
                org_id=self.org_id,
                order_id=self.id,
                order_version=self.version,
                occurred_at=now,
                **fields,
            )
        )

    def _priced(self, lines: Sequence[OrderLine], total: Money) -> tuple[OrderLine, ...]:
        by_sku = {line.sku: line for line in lines}
        if len(by_sku) != len(lines) or set(by_sku) != {line.sku for line in self.lines}:
            raise ReservationMismatchError(details={"order_id": str(self.id)})
        priced = []
        for line in self.lines:
            answer = by_sku[line.sku]
            price = answer.unit_price
            if (
                answer.quantity != line.quantity
                or answer.product_id is None
                or price is None
                or price.currency != self.currency
            ):
                raise ReservationMismatchError(details={"order_id": str(self.id)})
            priced.append(replace(line, product_id=answer.product_id, unit_price=price))
        line_totals = [line.line_total for line in priced]
        if total.currency != self.currency or total.amount_minor != sum(
            t.amount_minor for t in line_totals if t is not None
        ):
            raise ReservationMismatchError(details={"order_id": str(self.id)})
        return tuple(priced)
