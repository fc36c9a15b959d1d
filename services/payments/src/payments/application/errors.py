"""Payments' errors, each with a stable dotted code (the tree lives in shared.errors)."""

from __future__ import annotations

from shared.errors import NotFoundError

__all__ = ["PaymentNotFoundError"]


class PaymentNotFoundError(NotFoundError):
    """The order has no payment (yet), or it is another org's."""

    code = "payment.not_found"
    default_message = "The order has no payment."
