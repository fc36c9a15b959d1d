"""Orders' domain errors, each with a stable dotted code (the tree lives in shared.errors)."""

from __future__ import annotations

from shared.errors import ConflictError, NotFoundError, ValidationError

__all__ = [
    "InvalidOrderError",
    "OrderNotCancellableError",
    "OrderNotFoundError",
    "PaymentMismatchError",
    "ReservationMismatchError",
]


class OrderNotFoundError(NotFoundError):
    """No such order in the caller's org (another org's order looks absent)."""

    code = "order.not_found"
    default_message = "The order was not found."


class OrderNotCancellableError(ConflictError):
    """The order is confirmed or rejected: there is nothing left to cancel."""

    code = "order.not_cancellable"
    default_message = "The order is already confirmed or rejected and cannot be cancelled."


class InvalidOrderError(ValidationError):
    """An order as placed breaks a rule (no lines, a repeated SKU, a bad quantity or currency)."""

    code = "validation.failed"


class ReservationMismatchError(ValidationError):
    """A stock reservation does not match the order it claims to answer (lines, currency)."""

    code = "order.reservation_mismatch"
    default_message = "The reservation does not match the order's lines or currency."


class PaymentMismatchError(ValidationError):
    """An authorisation's amount is not the total the order asked payments for."""

    code = "order.payment_mismatch"
    default_message = "The authorised amount does not match the order's total."
