"""Notifications' domain errors with stable dotted codes (the tree lives in shared.errors)."""

from __future__ import annotations

from shared.errors import ConflictError, NotFoundError, ValidationError

__all__ = [
    "DeliveryNotFoundError",
    "EndpointLimitReachedError",
    "EndpointNotFoundError",
    "InvalidEndpointError",
]


class EndpointNotFoundError(NotFoundError):
    """No such webhook endpoint in the caller's org (another org's endpoint looks absent)."""

    code = "webhook_endpoint.not_found"


class DeliveryNotFoundError(NotFoundError):
    """No such delivery to that endpoint in the caller's org."""

    code = "webhook_delivery.not_found"


class EndpointLimitReachedError(ConflictError):
    """The org already has as many endpoints as it may register."""

    code = "webhook_endpoint.limit_reached"
    default_message = "The org has reached its limit of webhook endpoints."


class InvalidEndpointError(ValidationError):
    """The endpoint's URL, event types, description or secret break a rule (422, with the field)."""
