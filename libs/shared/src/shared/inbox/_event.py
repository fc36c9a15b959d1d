"""What a handler receives: an event decoded from a Kafka record's CloudEvents headers and value."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from shared.errors import ValidationError
from shared.inbox._headers import (
    CE_DATACONTENTTYPE,
    CE_ID,
    CE_ORGID,
    CE_SOURCE,
    CE_SUBJECT,
    CE_TIME,
    CE_TYPE,
    Headers,
    header_text,
    parse_time,
)
from shared.text import json_may_hold_unstorable, require_storable

MAX_EVENT_ID_LENGTH = 200


class InvalidEnvelopeError(ValidationError):
    """The record lacks a usable CloudEvents ``ce_id`` or ``ce_type`` header."""

    code = "message.invalid_envelope"
    default_message = "The message has no valid event id or type."


class UndecodablePayloadError(ValidationError):
    """The record's value is not a JSON document in a content type the consumer reads."""

    code = "message.undecodable"
    default_message = "The message payload could not be decoded."


class UnknownEventTypeError(ValidationError):
    """No handler is registered for the record's event type."""

    code = "message.unknown_type"
    default_message = "No handler is registered for this event type."


@dataclass(frozen=True, slots=True)
class InboxEvent:
    """One event as a handler sees it.

    Attributes:
        id: the CloudEvents id (``ce_id``), the inbox's deduplication key.
        type: the CloudEvents type (``ce_type``), e.g. ``order.placed.v1``.
        source, subject, time, org_id: the other CloudEvents attributes, when present.
        key: the Kafka key (the aggregate id) as bytes.
        data: the decoded JSON payload; validate it into your own model in the handler.
        headers: every record header, untouched.
        topic, partition, offset: where the event was first consumed (also in the retry lane).
        attempt: 1 for the first handling attempt, then 2, 3, ...
    """

    id: str
    type: str
    source: str | None
    subject: str | None
    time: datetime | None
    org_id: str | None
    key: bytes | None
    data: Any
    headers: tuple[tuple[str, bytes], ...]
    topic: str
    partition: int
    offset: int
    attempt: int

    def causation_id(self) -> uuid.UUID:
        """The event id as a UUID, for the writes this event causes to point back at it.

        Raises:
            ValidationError: ``ce_id`` is not a UUID (permanent: the record is dead-lettered).
        """
        try:
            return uuid.UUID(self.id)
        except ValueError as exc:
            raise ValidationError("ce_id is not a UUID.") from exc

    def require_org(self, org_id: uuid.UUID | str) -> None:
        """Check that the payload's ``org_id`` is the envelope's (when ``ce_orgid`` is set).

        Raises:
            ValidationError: they differ (permanent: the record is dead-lettered).
        """
        if self.org_id is not None and self.org_id != str(org_id):
            raise ValidationError("The payload's org_id differs from ce_orgid.")


T_contra = TypeVar("T_contra", contravariant=True)

Handler = Callable[[InboxEvent, T_contra], Awaitable[None]]
"""An event handler: apply the event through the transaction the consumer opened for it.

The second argument is the ``AsyncSession`` (consumer built with ``session_factory``) or the
unit of work (built with ``unit_of_work``), e.g. ``Handler[AsyncSession]``. The handler must
not commit or roll back: the consumer commits its writes together with the inbox claim, then
acknowledges the offset. Raise an ``AppError`` to fail: transient ones
(``InfrastructureError``) are retried, others are dead-lettered.
"""


async def ignore_event(event: InboxEvent, context: object) -> None:
    """The handler of a topic's event types this consumer does not act on.

    Map such types to it (``dict.fromkeys(OTHER_TYPES, ignore_event)``) rather than leaving them
    out, which dead-letters them as unknown. The consumer recognises it and acknowledges those
    records without opening a transaction or writing an inbox row: applying nothing needs no
    deduplication, and a topic's unrelated events (most of what a saga participant reads) then
    cost no database round trip.
    """
    del event, context


def read_envelope(headers: Headers) -> tuple[str, str]:
    """Return the record's ``(event id, event type)``.

    Raises:
        InvalidEnvelopeError: either header is missing, empty or unreasonably long.
    """
    event_id = (header_text(headers, CE_ID) or "").strip()
    event_type = (header_text(headers, CE_TYPE) or "").strip()
    # NUL cannot be stored (inbox_messages): refused here, as a permanent failure, rather than
    # failing the claim's INSERT as a database error.
    if not event_id or len(event_id) > MAX_EVENT_ID_LENGTH or not _clean(event_id):
        raise InvalidEnvelopeError("The message has no valid ce_id header.")
    if not event_type or "\x00" in event_type:
        raise InvalidEnvelopeError("The message has no valid ce_type header.")
    return event_id, event_type


def _clean(event_id: str) -> bool:
    return "\ufffd" not in event_id and "\x00" not in event_id


def decode_payload(value: bytes | None, content_type: str | None) -> Any:
    """Decode a JSON payload (``application/json`` or ``application/*+json``, or unset).

    Raises:
        UndecodablePayloadError: no value, another content type, or invalid UTF-8/JSON.
        UnstorableTextError: a string holds NUL or an unpaired surrogate (``shared.text``).
    """
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media != "application/json" and not (
        media.startswith("application/") and media.endswith("+json")
    ):
        raise UndecodablePayloadError(f"Unsupported content type {media[:64]!r}.")
    if value is None:
        raise UndecodablePayloadError("The message has no payload.")
    try:
        data = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        # The decoder's text quotes the payload; keep it out of the (header-bound) message.
        raise UndecodablePayloadError("The payload is not valid JSON.") from exc
    if json_may_hold_unstorable(value):
        # NUL or a lone surrogate would fail inside the handler's transaction, as a database
        # error (transient, retried): refuse it here, permanently, naming where it is.
        require_storable(data)
    return data


def build_event(
    *,
    event_id: str,
    event_type: str,
    data: Any,
    key: bytes | None,
    headers: Headers,
    topic: str,
    partition: int,
    offset: int,
    attempt: int,
) -> InboxEvent:
    """Assemble the :class:`InboxEvent` for a record whose envelope and payload were read."""
    return InboxEvent(
        id=event_id,
        type=event_type,
        source=header_text(headers, CE_SOURCE),
        subject=header_text(headers, CE_SUBJECT),
        time=parse_time(header_text(headers, CE_TIME)),
        org_id=header_text(headers, CE_ORGID),
        key=key,
        data=data,
        headers=tuple(headers),
        topic=topic,
        partition=partition,
        offset=offset,
        attempt=attempt,
    )


def content_type(headers: Headers) -> str | None:
    """Return the payload's content type from ``ce_datacontenttype`` (or ``content-type``)."""
    return header_text(headers, CE_DATACONTENTTYPE) or header_text(headers, "content-type")
