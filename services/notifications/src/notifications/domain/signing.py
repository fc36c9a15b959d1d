"""Standard Webhooks (standardwebhooks.com): the body a tenant receives and how it is signed.

Body: ``{"type": ..., "timestamp": ..., "data": ...}`` (compact JSON, ``data`` the event's v1
payload). Headers of each attempt: ``webhook-id`` (the delivery id, the same on every retry),
``webhook-timestamp`` (Unix seconds of this attempt) and ``webhook-signature``:
``v1,`` + base64(HMAC-SHA256(secret bytes, f"{id}.{timestamp}.{body}")).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from notifications.domain.values import SigningSecret, WebhookEventType

__all__ = [
    "WEBHOOK_ID",
    "WEBHOOK_SIGNATURE",
    "WEBHOOK_TIMESTAMP",
    "message_body",
    "sign",
    "signature_headers",
]

WEBHOOK_ID = "webhook-id"
WEBHOOK_TIMESTAMP = "webhook-timestamp"
WEBHOOK_SIGNATURE = "webhook-signature"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def message_body(
    event_type: WebhookEventType, occurred_at: datetime, data: Mapping[str, Any]
) -> str:
    """The body every attempt of a delivery sends, byte for byte."""
    return json.dumps(
        {"type": event_type.value, "timestamp": _rfc3339(occurred_at), "data": data},
        separators=(",", ":"),
        ensure_ascii=False,
    )


def sign(secret: SigningSecret, message_id: str, timestamp: int, body: str) -> str:
    """The ``webhook-signature`` value: ``v1,<base64 HMAC-SHA256>`` of ``id.timestamp.body``."""
    content = f"{message_id}.{timestamp}.{body}".encode()
    digest = hmac.new(secret.key(), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_headers(
    secret: SigningSecret, delivery_id: uuid.UUID, at: datetime, body: str
) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt made at ``at``."""
    timestamp = int(at.timestamp())
    message_id = str(delivery_id)
    return {
        WEBHOOK_ID: message_id,
        WEBHOOK_TIMESTAMP: str(timestamp),
        WEBHOOK_SIGNATURE: sign(secret, message_id, timestamp, body),
    }
