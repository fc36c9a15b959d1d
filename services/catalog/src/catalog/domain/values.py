"""Catalog's value objects: money and the lines of an order as requested, held and priced."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from catalog.domain.errors import InvalidQuantityError

__all__ = ["HeldLine", "Money", "PricedLine", "RejectedLine", "RequestedLine"]

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = 900_000_000_000_000
MAX_QUANTITY = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: int
    currency: str

    def __post_init__(self) -> None:
        if not 0 <= self.amount_minor <= MAX_AMOUNT:
            raise InvalidQuantityError("A price must be between 0 and 9e14 minor units.")
        if not _CURRENCY.match(self.currency):
            raise InvalidQuantityError("A currency is three upper-case letters (ISO 4217).")

    def times(self, quantity: int) -> Money:
        """This amount ``quantity`` times."""
        return Money(self.amount_minor * quantity, self.currency)


@dataclass(frozen=True, slots=True)
class RequestedLine:
    """One line of an order as placed: a SKU and a quantity."""

    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class HeldLine:
    """Units of one product held for (or released from) an order."""

    product_id: uuid.UUID
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class PricedLine:
    """A reserved line priced at the catalog price of the moment it was reserved."""

    product_id: uuid.UUID
    sku: str
    quantity: int
    unit_price: Money

    @property
    def line_total(self) -> Money:
        """Unit price times quantity."""
        return self.unit_price.times(self.quantity)

    @property
    def held(self) -> HeldLine:
        """The line without its price."""
        return HeldLine(self.product_id, self.sku, self.quantity)


@dataclass(frozen=True, slots=True)
class RejectedLine:
    """A line that could not be reserved; ``available`` is None for an unknown SKU."""

    sku: str
    requested: int
    available: int | None
