"""Orders' value objects: money, order lines (as placed, then priced) and the saga's deadlines."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from orders.domain.errors import InvalidOrderError

__all__ = [
    "MAX_AMOUNT",
    "MAX_LINES",
    "MAX_QUANTITY",
    "Deadlines",
    "Money",
    "OrderLine",
    "RejectedLine",
]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_AMOUNT = 900_000_000_000_000
MAX_QUANTITY = 10_000
MAX_LINES = 100


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not 0 <= self.amount_minor <= MAX_AMOUNT:
            raise InvalidOrderError("An amount must be between 0 and 9e14 minor units.")
        if not _CURRENCY.match(self.currency):
            raise InvalidOrderError("A currency is three upper-case letters (ISO 4217).")

    def times(self, quantity: int) -> Money:
        """This amount ``quantity`` times."""
        return Money(self.amount_minor * quantity, self.currency)


@dataclass(frozen=True, slots=True)
class OrderLine:
    """One line of an order: a SKU and a quantity; product and price once stock is reserved."""

    sku: str
    quantity: int
    product_id: uuid.UUID | None = None
    unit_price: Money | None = None

    def __post_init__(self) -> None:
        if not (1 <= len(self.sku) <= 64 and _SKU.match(self.sku)):
            raise InvalidOrderError(f"{self.sku[:64]!r} is not a valid SKU.")
        if not 1 <= self.quantity <= MAX_QUANTITY:
            raise InvalidOrderError("A quantity is between 1 and 10000.")

    @property
    def line_total(self) -> Money | None:
        """Unit price times quantity; None before the line is priced."""
        return self.unit_price.times(self.quantity) if self.unit_price else None

    @property
    def priced(self) -> bool:
        """True once catalog reserved and priced the line."""
        return self.product_id is not None and self.unit_price is not None


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A line catalog could not reserve; ``available`` is None for an unknown SKU."""

    sku: str
    requested: int
    available: int | None


@dataclass(frozen=True, slots=True)
class Deadlines:
    """How long the saga waits for each step before it gives up and compensates.

    A step's deadline is the customer's time: while the saga's own path (broker, relays,
    consumers) is known to be down, the sweeper holds it (:meth:`Order.hold`), up to the step's
    hard bound, past which the step times out whatever the cause.

    Attributes:
        stock: placed -> stock reserved or rejected.
        payment: payment requested -> authorised or failed (moved on by each deferral).
        payment_max_wait: the most a payment may be deferred or held, from the request on.
        compensation_retry: cancelling -> stock released; past it the request is sent again.
        stock_max_wait: the most the stock step may be held, from the order's placing on.
    """

    stock: timedelta
    payment: timedelta
    payment_max_wait: timedelta
    compensation_retry: timedelta
    stock_max_wait: timedelta = timedelta(minutes=10)
