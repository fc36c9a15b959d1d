"""Catalog's model: products and their stock level (reservations: ``catalog.domain.reservation``).

Stock invariants (ARCHITECTURE.md invariant 2): ``on_hand = available + reserved`` and none of
them is ever negative.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from catalog.domain.errors import (
    InsufficientStockError,
    InvalidQuantityError,
    ProductCurrencyChangeError,
)
from catalog.domain.events import (
    DomainEvent,
    ProductCreated,
    ProductPriceChanged,
    StockLevelChanged,
)
from catalog.domain.values import (
    MAX_QUANTITY,
    HeldLine,
    Money,
    PricedLine,
    RejectedLine,
    RequestedLine,
)

__all__ = [
    "EventRecorder",
    "HeldLine",
    "Money",
    "PricedLine",
    "Product",
    "RejectedLine",
    "RequestedLine",
    "StockItem",
]


class EventRecorder:
    """Base of the aggregates: records domain events until the unit of work pulls them."""

    def _record(self, event: DomainEvent) -> None:
        self.__dict__.setdefault("_events", []).append(event)

    def pull_events(self) -> list[DomainEvent]:
        """Return and forget the events recorded since the last pull."""
        events: list[DomainEvent] = self.__dict__.pop("_events", [])
        return events


@dataclass(eq=False)
class Product(EventRecorder):
    """A product of one org; ``version`` counts every change to it or its stock level."""

    id: uuid.UUID
    org_id: uuid.UUID
    sku: str
    name: str
    price: Money
    version: int
    created_at: datetime
    updated_at: datetime
    description: str | None = None

    @classmethod
    def create(
        cls,
        *,
        id: uuid.UUID,
        org_id: uuid.UUID,
        sku: str,
        name: str,
        price: Money,
        now: datetime,
        description: str | None = None,
    ) -> Product:
        """A new product at version 1 (records ``ProductCreated``)."""
        product = cls(id, org_id, sku, name, price, 1, now, now, description)
        product._record(
            ProductCreated(
                org_id=org_id,
                occurred_at=now,
                product_id=id,
                version=1,
                sku=sku,
                name=name,
                price=price,
            )
        )
        return product

    def bump(self, now: datetime) -> int:
        """Count one change and return the new version."""
        self.version += 1
        self.updated_at = now
        return self.version

    def change_price(self, price: Money, now: datetime) -> None:
        """Set a new price (records ``ProductPriceChanged``; same price: no change).

        Raises:
            ProductCurrencyChangeError: the new price is in another currency.
        """
        if price.currency != self.price.currency:
            raise ProductCurrencyChangeError(details={"currency": self.price.currency})
        if price == self.price:
            return
        old, self.price = self.price, price
        self._record(
            ProductPriceChanged(
                org_id=self.org_id,
                occurred_at=now,
                product_id=self.id,
                version=self.bump(now),
                sku=self.sku,
                old_price=old,
                new_price=price,
            )
        )


@dataclass(eq=False)
class StockItem(EventRecorder):
    """The stock level of one product (one SKU)."""

    product_id: uuid.UUID
    org_id: uuid.UUID
    sku: str
    on_hand: int = 0
    reserved: int = 0

    def __post_init__(self) -> None:
        self._check()

    @property
    def available(self) -> int:
        """Units that can still be reserved."""
        return self.on_hand - self.reserved

    def _check(self) -> None:
        if not 0 <= self.reserved <= self.on_hand <= MAX_QUANTITY:
            raise InsufficientStockError(
                "Stock cannot go below what is reserved.",
                details={"on_hand": self.on_hand, "reserved": self.reserved},
            )

    def change_on_hand(
        self,
        product: Product,
        *,
        on_hand: int,
        reason: str | None,
        set_: bool,
        by: uuid.UUID,
        now: datetime,
    ) -> None:
        """Set or adjust on-hand (records ``StockLevelChanged`` with the product's new version)."""
        if on_hand < 0:
            raise InvalidQuantityError("On-hand cannot be negative.")
        before = self.on_hand
        self.on_hand = on_hand
        try:
            self._check()
        except InsufficientStockError:
            self.on_hand = before
            raise
        self._record(
            StockLevelChanged(
                org_id=self.org_id,
                occurred_at=now,
                product_id=self.product_id,
                version=product.bump(now),
                sku=self.sku,
                change="set" if set_ else "adjusted",
                delta=on_hand - before,
                reason=None if set_ else reason,
                on_hand=on_hand,
                reserved=self.reserved,
                changed_by=by,
            )
        )

    def hold(self, quantity: int) -> None:
        """Reserve ``quantity`` units (the caller checked availability)."""
        self.reserved += quantity
        self._check()

    def unhold(self, quantity: int) -> None:
        """Make ``quantity`` held units available again."""
        self.reserved -= quantity
        self._check()

    def ship(self, quantity: int) -> None:
        """Held units leave the warehouse: on-hand and reserved both drop."""
        self.reserved -= quantity
        self.on_hand -= quantity
        self._check()
