"""Small values of notifications' domain: event types, statuses, attempt errors, the secret."""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from notifications.domain.errors import InvalidEndpointError
from shared.errors import FieldError

__all__ = [
    "AttemptError",
    "DeliveryStatus",
    "SigningSecret",
    "WebhookEventType",
]


class WebhookEventType(enum.StrEnum):
    """The events a tenant can subscribe to (contracts: ``WebhookEventType``)."""

    ORDER_PLACED = "order.placed"
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_REJECTED = "order.rejected"
    ORDER_CANCELLED = "order.cancelled"
    PAYMENT_AUTHORIZED = "payment.authorized"
    PAYMENT_FAILED = "payment.failed"


class DeliveryStatus(enum.StrEnum):
    """pending (not tried yet) -> succeeded, or retrying -> succeeded | failed (dead)."""

    PENDING = "pending"
    RETRYING = "retrying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def is_open(self) -> bool:
        """True while the delivery still has attempts ahead of it."""
        return self in (DeliveryStatus.PENDING, DeliveryStatus.RETRYING)


class AttemptError(enum.StrEnum):
    """Why an attempt failed (contracts: ``WebhookDeliveryAttempt.error``)."""

    CONNECT_ERROR = "connect_error"
    TIMEOUT = "timeout"
    HTTP_STATUS = "http_status"
    CIRCUIT_OPEN = "circuit_open"


# A format, not a secret (for the linters below).
_SECRET_PREFIX = "whsec_"  # noqa: S105  # nosec B105
_SECRET_PATTERN = re.compile(r"^whsec_[A-Za-z0-9+/]{32,}={0,2}$")
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
GENERATED_SECRET_BYTES = 32


@dataclass(frozen=True, slots=True)
class SigningSecret:
    """An endpoint's Standard Webhooks signing secret: ``whsec_`` + base64 of 24-64 bytes.

    Its ``repr`` never shows the value, so a secret that reaches a log line or a traceback stays
    hidden; :meth:`reveal` is the only way to the text (stored, and shown once at creation).
    """

    _value: str = field(repr=False)

    @classmethod
    def generate(cls, random_bytes: Callable[[int], bytes]) -> SigningSecret:
        """A new secret of 32 random bytes (``random_bytes`` is ``secrets.token_bytes``)."""
        raw = random_bytes(GENERATED_SECRET_BYTES)
        return cls(_SECRET_PREFIX + base64.b64encode(raw).decode("ascii"))

    @classmethod
    def parse(cls, text: str) -> SigningSecret:
        """Accept a caller's secret, or raise ``InvalidEndpointError`` (the value is not echoed)."""
        if not _SECRET_PATTERN.fullmatch(text):
            raise _invalid_secret("must be whsec_ followed by base64")
        try:
            raw = base64.b64decode(text[len(_SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise _invalid_secret("is not valid base64") from None
        if not MIN_SECRET_BYTES <= len(raw) <= MAX_SECRET_BYTES:
            raise _invalid_secret(f"must encode {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes")
        return cls(text)

    def key(self) -> bytes:
        """The HMAC key: the bytes the base64 after ``whsec_`` encodes."""
        return base64.b64decode(self._value[len(_SECRET_PREFIX) :])

    def reveal(self) -> str:
        """The secret's text, for storage and for the one response that shows it."""
        return self._value

    def __str__(self) -> str:
        return "whsec_[REDACTED]"


def _invalid_secret(message: str) -> InvalidEndpointError:
    return InvalidEndpointError(
        f"The secret {message}.", errors=[FieldError("body.secret", message, "value_error")]
    )
