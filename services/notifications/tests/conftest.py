"""Notifications test fixtures shared by unit and integration tests, among them a Standard
Webhooks verifier written from the specification (standardwebhooks.com), as a receiver would
write it: what notifications sends is checked with it, never with the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass

import pytest


@pytest.fixture
def org_id() -> uuid.UUID:
    """A fresh org (tenant) per test."""
    return uuid.uuid4()


TOLERANCE_S = 300


class InvalidSignature(Exception):
    pass


def _verify(secret: str, headers: dict[str, str], body: str, *, now: int) -> None:
    """The receiver's side, per standardwebhooks.com: the timestamp within 5 minutes, one
    ``v1`` entry equal (in constant time) to base64 HMAC-SHA256 of ``id.timestamp.body`` under
    the base64-decoded secret."""
    msg_id = headers["webhook-id"]
    timestamp = headers["webhook-timestamp"]
    if not timestamp.isdigit() or abs(now - int(timestamp)) > TOLERANCE_S:
        raise InvalidSignature("timestamp outside the tolerance")
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.{body}".encode()
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    for entry in headers["webhook-signature"].split(" "):
        version, _, signature = entry.partition(",")
        if version == "v1" and hmac.compare_digest(signature.encode(), expected.encode()):
            return
    raise InvalidSignature("no matching signature")


@dataclass(frozen=True)
class StandardWebhooks:
    """The receiver's verifier: ``verify(secret, headers, body, now=...)`` raises ``Invalid``."""

    tolerance_s: int = TOLERANCE_S
    Invalid: type[Exception] = InvalidSignature

    def verify(self, secret: str, headers: dict[str, str], body: str, *, now: int) -> None:
        """Raise ``Invalid`` unless the headers sign ``body`` with ``secret``, recently."""
        _verify(secret, headers, body, now=now)


@pytest.fixture(scope="session")
def standard_webhooks() -> StandardWebhooks:
    """An independent Standard Webhooks verifier."""
    return StandardWebhooks()
