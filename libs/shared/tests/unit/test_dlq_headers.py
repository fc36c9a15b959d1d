"""Retry, dead-letter and replay headers: built, read back, and never touching the producer's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

import shared.outbox as outbox
from shared.inbox import DeadLetter, Origin, RetryState, parse_dead_letter
from shared.inbox import _headers as h
from shared.inbox._replay_model import replay_headers

T0 = datetime(2026, 11, 26, 12, 0, 0, 123000, tzinfo=UTC)
PRODUCER = [
    ("ce_id", b"01a2-event"),
    ("ce_type", b"ordo.orders.order_placed.v1"),
    ("traceparent", b"00-" + b"a" * 32 + b"-" + b"b" * 16 + b"-01"),
    ("x-binary", b"\xff\x00\xfe"),
]


def letter(**changes: object) -> DeadLetter:
    values: dict[str, object] = {
        "origin": Origin("orders.events", 4, 1234),
        "group": "catalog",
        "error_code": "validation.failed",
        "error_message": "The quantity must be positive.",
        "error_class": "shared.errors.ValidationError",
        "attempts": 3,
        "first_failure_at": T0,
        "last_failure_at": T0 + timedelta(seconds=13),
        "reason": "exhausted",
    }
    values.update(changes)
    return DeadLetter(**values)  # type: ignore[arg-type]


def test_dead_letter_headers_append_to_the_producer_headers_and_read_back() -> None:
    built = h.dead_letter_headers(PRODUCER, letter())
    assert built[: len(PRODUCER)] == PRODUCER
    assert dict(built)["ordo-dlq-original-offset"] == b"1234"
    assert dict(built)["ordo-dlq-first-failure-at"] == b"2026-11-26T12:00:00.123Z"
    assert parse_dead_letter(built) == letter()


def test_retry_bookkeeping_is_dropped_when_a_record_is_dead_lettered() -> None:
    in_lane = h.retry_headers(PRODUCER, RetryState(Origin("orders.events", 4, 1234), attempts=2))
    built = h.dead_letter_headers(in_lane, letter())
    assert not [k for k, _ in built if k.startswith("ordo-retry-")]
    assert built[: len(PRODUCER)] == PRODUCER


def test_the_error_message_is_one_line_and_truncated() -> None:
    built = h.dead_letter_headers(
        PRODUCER, letter(error_message="bad\r\ninjected: 1\t" + "x" * 500)
    )
    message = dict(built)["ordo-dlq-error-message"].decode()
    assert "\n" not in message
    assert "\r" not in message
    assert message.startswith("bad injected: 1 x")
    assert len(message) == h.MAX_ERROR_MESSAGE
    assert message.endswith("\u2026")


def test_a_record_without_the_dead_letter_headers_reads_as_none() -> None:
    assert parse_dead_letter(PRODUCER) is None
    partial = [(k, v) for k, v in h.dead_letter_headers(PRODUCER, letter()) if "group" not in k]
    assert parse_dead_letter(partial) is None


def test_retry_state_round_trips_and_garbage_reads_as_a_fresh_retry() -> None:
    state = RetryState(
        origin=Origin("orders.events", 1, 7),
        attempts=2,
        first_failure_at=T0,
        last_failure_at=T0 + timedelta(seconds=1),
        not_before=T0 + timedelta(seconds=4),
        last_error_code="dependency.unavailable",
    )
    assert h.parse_retry_state(h.retry_headers(PRODUCER, state), Origin("x", 0, 0)) == state
    garbage = [
        ("ordo-retry-attempts", b"many"),
        ("ordo-retry-original-partition", b"\xff"),
        ("ordo-retry-not-before", b"yesterday"),
    ]
    fallback = Origin("orders.events.retry.catalog", 2, 99)
    assert h.parse_retry_state(garbage, fallback) == RetryState(origin=fallback)


def test_the_last_value_of_a_repeated_header_wins() -> None:
    assert h.header_text([("a", b"1"), ("a", b"2")], "a") == "2"
    assert h.header_text([("a", b"\xff")], "a") == "\ufffd"
    assert h.header_text([], "a") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T12:00:00.123Z", T0),
        ("2026-11-26T13:00:00.123+01:00", T0),
        ("2026-11-26T12:00:00.123", T0),  # naive reads as UTC
        ("not a time", None),
        (None, None),
    ],
)
def test_times_parse_as_aware_utc(text: str | None, expected: datetime | None) -> None:
    assert h.parse_time(text) == expected


def test_a_replay_to_the_retry_lane_is_a_fresh_retry_that_remembers_its_origin() -> None:
    dead = h.dead_letter_headers(PRODUCER, letter())
    replay_id = uuid.uuid4()
    built = replay_headers(
        dead, letter(), replay_id=replay_id, source="orders.events.dlq/0/5", target="retry"
    )
    assert built[: len(PRODUCER)] == PRODUCER
    assert not [k for k, _ in built if k.startswith("ordo-dlq-")]
    state = h.parse_retry_state(built, Origin("x", 0, 0))
    assert state == RetryState(origin=Origin("orders.events", 4, 1234))
    assert dict(built)["ordo-replay-id"] == str(replay_id).encode()
    assert dict(built)["ordo-replay-source"] == b"orders.events.dlq/0/5"


def test_a_replay_to_the_original_topic_carries_only_the_producer_and_replay_headers() -> None:
    dead = h.dead_letter_headers(PRODUCER, letter())
    built = replay_headers(
        [*dead, ("ordo-replay-id", b"old")],
        letter(),
        replay_id=uuid.uuid4(),
        source="s",
        target="original",
    )
    assert [k for k, _ in built] == [
        *(k for k, _ in PRODUCER),
        "ordo-replay-id",
        "ordo-replay-source",
    ]


def test_the_inbox_reads_the_cloudevents_headers_the_outbox_writes() -> None:
    assert (h.CE_ID, h.CE_TYPE, h.CE_SOURCE, h.CE_TIME, h.CE_SUBJECT, h.CE_SPECVERSION) == (
        outbox.CE_ID,
        outbox.CE_TYPE,
        outbox.CE_SOURCE,
        outbox.CE_TIME,
        outbox.CE_SUBJECT,
        outbox.CE_SPECVERSION,
    )
    assert (h.CE_DATACONTENTTYPE, h.CE_ORGID) == (outbox.CE_DATACONTENTTYPE, outbox.CE_ORGID)
