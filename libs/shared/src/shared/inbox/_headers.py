"""Kafka headers the idempotent consumer reads (CloudEvents, trace) and writes (retry, DLQ).

Everything here is pure: building and parsing header lists, no IO. Headers the consumer adds
carry an ``ordo-`` prefix and are stripped again at each hop, so a record that went through the
retry lane, the dead-letter topic and a replay still carries its producer's headers unchanged,
plus exactly one set of ours.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

HeaderList = list[tuple[str, bytes]]
Headers = Sequence[tuple[str, bytes]]

# CloudEvents Kafka protocol binding, binary mode, as the outbox relay writes them.
CE_ID = "ce_id"
CE_TYPE = "ce_type"
CE_SOURCE = "ce_source"
CE_SPECVERSION = "ce_specversion"
CE_TIME = "ce_time"
CE_SUBJECT = "ce_subject"
CE_DATACONTENTTYPE = "ce_datacontenttype"
CE_ORGID = "ce_orgid"  # CloudEvents extension: the tenant

RETRY_PREFIX = "ordo-retry-"
DLQ_PREFIX = "ordo-dlq-"
REPLAY_PREFIX = "ordo-replay-"

H_RETRY_ATTEMPTS = "ordo-retry-attempts"
H_RETRY_FIRST_FAILURE = "ordo-retry-first-failure-at"
H_RETRY_LAST_FAILURE = "ordo-retry-last-failure-at"
H_RETRY_NOT_BEFORE = "ordo-retry-not-before"
H_RETRY_ERROR_CODE = "ordo-retry-error-code"
H_RETRY_TOPIC = "ordo-retry-original-topic"
H_RETRY_PARTITION = "ordo-retry-original-partition"
H_RETRY_OFFSET = "ordo-retry-original-offset"

H_DLQ_TOPIC = "ordo-dlq-original-topic"
H_DLQ_PARTITION = "ordo-dlq-original-partition"
H_DLQ_OFFSET = "ordo-dlq-original-offset"
H_DLQ_GROUP = "ordo-dlq-consumer-group"
H_DLQ_ERROR_CODE = "ordo-dlq-error-code"
H_DLQ_ERROR_MESSAGE = "ordo-dlq-error-message"
H_DLQ_ERROR_CLASS = "ordo-dlq-error-class"
H_DLQ_ATTEMPTS = "ordo-dlq-attempts"
H_DLQ_FIRST_FAILURE = "ordo-dlq-first-failure-at"
H_DLQ_LAST_FAILURE = "ordo-dlq-last-failure-at"
H_DLQ_REASON = "ordo-dlq-reason"
H_DLQ_BY_REFERENCE = "ordo-dlq-by-reference"
H_DLQ_ORIGINAL_SIZE = "ordo-dlq-original-size"
H_DLQ_HEADERS_DIGEST = "ordo-dlq-original-headers-sha256"

H_REPLAY_ID = "ordo-replay-id"
H_REPLAY_SOURCE = "ordo-replay-source"

MAX_ERROR_MESSAGE = 256
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message was first consumed: its source topic, partition and offset."""

    topic: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class RetryState:
    """What the retry lane knows about a message: its origin and the failures so far.

    ``attempts`` counts failed handling attempts (0 for a message parked behind a failing one
    of the same key, or re-driven by a replay).
    """

    origin: Origin
    attempts: int = 0
    first_failure_at: datetime | None = None
    last_failure_at: datetime | None = None
    not_before: datetime | None = None
    last_error_code: str | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why and where a message was given up: everything the dead-letter headers say."""

    origin: Origin
    group: str
    error_code: str
    error_message: str
    error_class: str
    attempts: int
    first_failure_at: datetime
    last_failure_at: datetime
    reason: Literal["permanent", "exhausted"]


def format_time(value: datetime) -> str:
    """Render an aware datetime as RFC 3339 UTC with milliseconds (``...T12:00:00.000Z``)."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str | None) -> datetime | None:
    """Parse an RFC 3339 timestamp into an aware UTC datetime; None when absent or invalid."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def header_text(headers: Headers, name: str) -> str | None:
    """Return the last value of header ``name`` as text (bad UTF-8 replaced), or None."""
    found: bytes | None = None
    for key, value in headers:
        if key == name:
            found = value
    if found is None:
        return None
    return found.decode("utf-8", errors="replace")


def _header_int(headers: Headers, name: str) -> int | None:
    text = header_text(headers, name)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def strip_headers(headers: Headers, prefixes: Iterable[str]) -> HeaderList:
    """Return ``headers`` without those whose name starts with one of ``prefixes``."""
    dropped = tuple(prefixes)
    return [(key, value) for key, value in headers if not key.startswith(dropped)]


def safe_error_message(text: str, limit: int = MAX_ERROR_MESSAGE) -> str:
    """Return ``text`` on one line (control characters collapsed), cut to ``limit`` characters."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "\u2026"


def _encode(pairs: Iterable[tuple[str, str | int | None]]) -> HeaderList:
    return [(key, str(value).encode()) for key, value in pairs if value is not None]


def retry_headers(original: Headers, state: RetryState) -> HeaderList:
    """Return the headers of a retry-lane record: the original ones plus ``state``.

    Earlier retry and dead-letter headers are dropped first, so a record never carries two
    attempt counts.
    """
    kept = strip_headers(original, (RETRY_PREFIX, DLQ_PREFIX))
    return kept + _encode(
        [
            (H_RETRY_TOPIC, state.origin.topic),
            (H_RETRY_PARTITION, state.origin.partition),
            (H_RETRY_OFFSET, state.origin.offset),
            (H_RETRY_ATTEMPTS, state.attempts),
            (H_RETRY_FIRST_FAILURE, _time_or_none(state.first_failure_at)),
            (H_RETRY_LAST_FAILURE, _time_or_none(state.last_failure_at)),
            (H_RETRY_NOT_BEFORE, _time_or_none(state.not_before)),
            (H_RETRY_ERROR_CODE, state.last_error_code),
        ]
    )


def parse_retry_state(headers: Headers, fallback: Origin) -> RetryState:
    """Read the retry headers of a lane record; ``fallback`` is the origin when they are absent.

    Missing or malformed values read as "no failure yet", never as an error: a lane record
    must always be processable.
    """
    topic = header_text(headers, H_RETRY_TOPIC)
    partition = _header_int(headers, H_RETRY_PARTITION)
    offset = _header_int(headers, H_RETRY_OFFSET)
    origin = (
        Origin(topic, partition, offset)
        if topic and partition is not None and offset is not None
        else fallback
    )
    return RetryState(
        origin=origin,
        attempts=max(_header_int(headers, H_RETRY_ATTEMPTS) or 0, 0),
        first_failure_at=parse_time(header_text(headers, H_RETRY_FIRST_FAILURE)),
        last_failure_at=parse_time(header_text(headers, H_RETRY_LAST_FAILURE)),
        not_before=parse_time(header_text(headers, H_RETRY_NOT_BEFORE)),
        last_error_code=header_text(headers, H_RETRY_ERROR_CODE),
    )


def dead_letter_headers(original: Headers, letter: DeadLetter) -> HeaderList:
    """Return the headers of a dead-letter record: the producer's headers plus ``letter``."""
    kept = strip_headers(original, (RETRY_PREFIX, DLQ_PREFIX))
    return kept + _encode(
        [
            (H_DLQ_TOPIC, letter.origin.topic),
            (H_DLQ_PARTITION, letter.origin.partition),
            (H_DLQ_OFFSET, letter.origin.offset),
            (H_DLQ_GROUP, letter.group),
            (H_DLQ_ERROR_CODE, letter.error_code),
            (H_DLQ_ERROR_MESSAGE, safe_error_message(letter.error_message)),
            (H_DLQ_ERROR_CLASS, letter.error_class),
            (H_DLQ_ATTEMPTS, letter.attempts),
            (H_DLQ_FIRST_FAILURE, format_time(letter.first_failure_at)),
            (H_DLQ_LAST_FAILURE, format_time(letter.last_failure_at)),
            (H_DLQ_REASON, letter.reason),
        ]
    )


REFERENCE_KEPT_HEADER_BYTES = 256
"""A reference letter keeps the original's headers up to this size each (``ce_id``, ``ce_type``
and their peers, for filters); longer ones are only counted in the digest."""


def record_size(key: bytes | None, value: bytes | None, headers: Headers) -> int:
    """The bytes a record carries (key, value, header names and values), before framing."""
    return (
        len(key or b"") + len(value or b"") + sum(len(name) + len(data) for name, data in headers)
    )


def reference_headers(
    key: bytes | None, value: bytes | None, original: Headers, letter: DeadLetter
) -> HeaderList:
    """Return the headers of a dead letter *by reference*: it carries no copy of the record.

    For a record whose copy cannot be produced (too large once the dead-letter headers are
    added, or refused by the broker): the letter says where the original is (the usual
    ``ordo-dlq-original-*`` coordinates), how large it was and a SHA-256 of its headers, so the
    replay can read it back from its topic while retention keeps it.
    """
    digest = hashlib.sha256()
    for name, data in original:
        digest.update(name.encode() + b"\0" + data + b"\0")
    small = [
        (name, data)
        for name, data in strip_headers(original, (RETRY_PREFIX, DLQ_PREFIX))
        if len(name) + len(data) <= REFERENCE_KEPT_HEADER_BYTES
    ]
    return dead_letter_headers(small, letter) + _encode(
        [
            (H_DLQ_BY_REFERENCE, "true"),
            (H_DLQ_ORIGINAL_SIZE, record_size(key, value, original)),
            (H_DLQ_HEADERS_DIGEST, digest.hexdigest()),
        ]
    )


def is_reference(headers: Headers) -> bool:
    """Return True for a dead letter that carries a reference to its record, not a copy."""
    return header_text(headers, H_DLQ_BY_REFERENCE) == "true"


def parse_dead_letter(headers: Headers) -> DeadLetter | None:
    """Read the dead-letter headers back; None when the record lacks the required ones."""
    topic = header_text(headers, H_DLQ_TOPIC)
    partition = _header_int(headers, H_DLQ_PARTITION)
    offset = _header_int(headers, H_DLQ_OFFSET)
    group = header_text(headers, H_DLQ_GROUP)
    first = parse_time(header_text(headers, H_DLQ_FIRST_FAILURE))
    last = parse_time(header_text(headers, H_DLQ_LAST_FAILURE))
    if not topic or partition is None or offset is None or not group or not first or not last:
        return None
    reason = header_text(headers, H_DLQ_REASON)
    return DeadLetter(
        origin=Origin(topic, partition, offset),
        group=group,
        error_code=header_text(headers, H_DLQ_ERROR_CODE) or "internal.error",
        error_message=header_text(headers, H_DLQ_ERROR_MESSAGE) or "",
        error_class=header_text(headers, H_DLQ_ERROR_CLASS) or "",
        attempts=_header_int(headers, H_DLQ_ATTEMPTS) or 0,
        first_failure_at=first,
        last_failure_at=last,
        reason="exhausted" if reason == "exhausted" else "permanent",
    )


def _time_or_none(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None
