"""Catalog's domain errors, each with a stable dotted code (the tree lives in shared.errors)."""

from __future__ import annotations

from shared.errors import ConflictError, NotFoundError, ValidationError

__all__ = [
    "InsufficientStockError",
    "InvalidQuantityError",
    "ProductCurrencyChangeError",
    "ProductNotFoundError",
    "ProductVersionConflictError",
    "ReservationNotHeldError",
    "SkuTakenError",
    "StockVersionConflictError",
]


class ProductNotFoundError(NotFoundError):
    """No such product in the caller's org (another org's product looks absent)."""

    code = "product.not_found"


class SkuTakenError(ConflictError):
    """The org already has a product with this SKU."""

    code = "product.sku_taken"


class InvalidQuantityError(ValidationError):
    """A stock quantity or price would be negative or out of range."""

    code = "stock.invalid_quantity"


class InsufficientStockError(ConflictError):
    """An adjustment would take on-hand below what is reserved."""

    code = "stock.below_reserved"


class ProductCurrencyChangeError(ConflictError):
    """A product keeps the currency it was created with."""

    code = "product.currency_change"


class ProductVersionConflictError(ConflictError):
    """The product changed since the version the caller expected."""

    code = "product.version_conflict"


class StockVersionConflictError(ConflictError):
    """The stock level changed since the version the caller expected."""

    code = "stock.version_conflict"


class ReservationNotHeldError(ConflictError):
    """A reservation that is not held (or does not exist) cannot be committed."""

    code = "reservation.not_held"
