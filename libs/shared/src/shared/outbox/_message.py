"""What a service hands the outbox, and the pure functions that turn it into a row.

Headers follow the CloudEvents Kafka protocol binding in binary mode: every attribute is a
``ce_<name>`` header and the body is the event data itself, so a consumer that ignores
CloudEvents still reads plain JSON.
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from shared.ids import new_id
from shared.observability.tracing import inject_headers

__all__ = [
    "CE_DATACONTENTTYPE",
    "CE_ID",
    "CE_ORGID",
    "CE_SOURCE",
    "CE_SPECVERSION",
    "CE_SUBJECT",
    "CE_TIME",
    "CE_TYPE",
    "CONTENT_TYPE",
    "OutboxMessage",
    "build_headers",
    "encode_payload",
    "lane_for",
]

CE_ID = "ce_id"
CE_SOURCE = "ce_source"
CE_TYPE = "ce_type"
CE_SPECVERSION = "ce_specversion"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CE_DATACONTENTTYPE = "ce_datacontenttype"
# CloudEvents extension attribute (lower-case alphanumerics only, hence no underscore).
CE_ORGID = "ce_orgid"
# The binding maps datacontenttype to Kafka's content-type header; ce_datacontenttype is kept
# as well because Ordo's consumers read every attribute from ce_* headers.
CONTENT_TYPE = "content-type"
_JSON = "application/json"
_RESERVED_PREFIXES = ("ce_", "traceparent", "tracestate", "baggage", "content-type")


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One integration event to publish after the current transaction commits.

    Attributes:
        topic: the Kafka topic.
        key: the aggregate id; the Kafka key and the unit of ordering.
        type: the CloudEvents type, versioned (``ordo.orders.order_placed.v1``).
        payload: a JSON-serialisable value, or ``bytes``/``str`` already encoded as JSON.
        subject: the CloudEvents subject; defaults to ``key``.
        org_id: the tenant the event belongs to (``ce_orgid``), if any.
        event_id: the event id (``ce_id``); a new UUID v7 by default.
        time: when it happened (``ce_time``); the outbox's clock by default.
        headers: extra headers; may not override ``ce_*``, trace or content-type headers.
    """

    topic: str
    key: str
    type: str
    payload: Any
    subject: str | None = None
    org_id: str | uuid.UUID | None = None
    event_id: uuid.UUID = field(default_factory=new_id)
    time: datetime | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.topic or not self.key or not self.type:
            raise ValueError("an outbox message needs a topic, a key and a type")
        for name in self.headers:
            if name.lower().startswith(_RESERVED_PREFIXES):
                raise ValueError(f"header {name!r} is set by the outbox and cannot be overridden")


def lane_for(key: str, lanes: int) -> int:
    """Return the lane of ``key``: a stable hash (CRC-32, the same in every process) mod ``lanes``.

    Python's ``hash()`` is salted per process, so it cannot be used: a writer and a relay must
    agree on the lane of a key forever.
    """
    if lanes < 1:
        raise ValueError("lanes must be >= 1")
    return zlib.crc32(key.encode("utf-8")) % lanes


def _json_default(value: object) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def encode_payload(payload: Any) -> str:
    """Return ``payload`` as JSON text: ``bytes``/``str`` are taken as already-encoded JSON.

    UUIDs and decimals become strings, datetimes ISO 8601, enums their value.
    """
    if isinstance(payload, bytes | bytearray):
        return bytes(payload).decode("utf-8")
    if isinstance(payload, str):
        return payload
    return json.dumps(payload, default=_json_default, separators=(",", ":"), ensure_ascii=False)


def _rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("event time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def build_headers(message: OutboxMessage, *, source: str, time: datetime) -> dict[str, str]:
    """Return the row's headers: CloudEvents attributes, tenant, and the current trace context.

    ``time`` is used when the message has none. The W3C ``traceparent``/``tracestate`` (and
    ``baggage``) of the span current at call time are injected, so the relay's publish span
    and the consumer continue the trace that wrote the row.
    """
    headers: dict[str, str] = dict(message.headers)
    headers.update(
        {
            CE_SPECVERSION: "1.0",
            CE_ID: str(message.event_id),
            CE_SOURCE: source,
            CE_TYPE: message.type,
            CE_TIME: _rfc3339(message.time or time),
            CE_SUBJECT: message.subject if message.subject is not None else message.key,
            CE_DATACONTENTTYPE: _JSON,
            CONTENT_TYPE: _JSON,
        }
    )
    if message.org_id is not None:
        headers[CE_ORGID] = str(message.org_id)
    inject_headers(headers)
    return headers
