"""Request and response bodies of catalog's internal API (contracts/openapi/catalog.yaml)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from catalog.domain.model import Money, Product, StockItem

__all__ = [
    "AdjustStockRequest",
    "CreateProductRequest",
    "MoneyBody",
    "ProductBody",
    "ProductPage",
    "SetStockRequest",
    "StockAdjustmentBody",
    "StockLevelBody",
    "StockLevelPage",
    "UpdatePriceRequest",
]

# Versions are PostgreSQL integers: a larger expected_version can never match (and would
# otherwise reach the service only to fail there).
MAX_VERSION = 2_147_483_647
Sku = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MoneyBody(_Body):
    """An amount in minor units of an ISO 4217 currency."""

    amount_minor: Annotated[int, Field(ge=0, le=900_000_000_000_000)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]

    def to_domain(self) -> Money:
        """The domain value."""
        return Money(self.amount_minor, self.currency)

    @classmethod
    def of(cls, money: Money) -> MoneyBody:
        """The body of a domain value."""
        return cls(amount_minor=money.amount_minor, currency=money.currency)


class CreateProductRequest(_Body):
    """POST /products."""

    sku: Sku
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str | None, Field(max_length=2000)] = None
    price: MoneyBody


class UpdatePriceRequest(_Body):
    """PUT /products/{product_id}/price."""

    price: MoneyBody
    expected_version: Annotated[int | None, Field(ge=1, le=MAX_VERSION)] = None


class SetStockRequest(_Body):
    """PUT /stock/{sku}."""

    on_hand: Annotated[int, Field(ge=0, le=1_000_000_000)]
    expected_version: Annotated[int | None, Field(ge=1, le=MAX_VERSION)] = None


class AdjustStockRequest(_Body):
    """POST /stock/{sku}/adjustments (``delta`` is never 0)."""

    delta: Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)]
    reason: Annotated[str, Field(min_length=1, max_length=200)]


class ProductBody(_Body):
    """A product."""

    id: uuid.UUID
    sku: Sku
    name: str
    description: str | None
    price: MoneyBody
    version: Annotated[int, Field(ge=1)]
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, product: Product) -> ProductBody:
        """The body of a product."""
        return cls(
            id=product.id,
            sku=product.sku,
            name=product.name,
            description=product.description,
            price=MoneyBody.of(product.price),
            version=product.version,
            created_at=product.created_at,
            updated_at=product.updated_at,
        )


class ProductPage(_Body):
    """One page of products."""

    items: list[ProductBody]
    next_cursor: str | None


class StockLevelBody(_Body):
    """The stock level of one SKU (its version is the product's)."""

    product_id: uuid.UUID
    sku: Sku
    on_hand: Annotated[int, Field(ge=0)]
    reserved: Annotated[int, Field(ge=0)]
    available: Annotated[int, Field(ge=0)]
    version: Annotated[int, Field(ge=1)]
    updated_at: datetime

    @classmethod
    def of(cls, product: Product, stock: StockItem) -> StockLevelBody:
        """The body of a stock level."""
        return cls(
            product_id=stock.product_id,
            sku=stock.sku,
            on_hand=stock.on_hand,
            reserved=stock.reserved,
            available=stock.available,
            version=product.version,
            updated_at=product.updated_at,
        )


class StockLevelPage(_Body):
    """One page of stock levels."""

    items: list[StockLevelBody]
    next_cursor: str | None


class StockAdjustmentBody(_Body):
    """A recorded adjustment and the stock level after it."""

    id: uuid.UUID
    product_id: uuid.UUID
    sku: Sku
    delta: int
    reason: str
    created_by: uuid.UUID
    created_at: datetime
    stock: StockLevelBody
