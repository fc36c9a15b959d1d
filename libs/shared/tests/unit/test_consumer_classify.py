"""Which failures are retried and which are dead-lettered, and how a record becomes an event."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, PositiveInt
from sqlalchemy.exc import IntegrityError, OperationalError

from shared.errors import (
    ConflictError,
    DependencyUnavailableError,
    NotFoundError,
    OperationTimeoutError,
    ValidationError,
)
from shared.inbox import (
    InvalidEnvelopeError,
    UndecodablePayloadError,
    UnknownEventTypeError,
    classify_failure,
)
from shared.inbox._event import build_event, decode_payload, read_envelope


class Line(BaseModel):
    quantity: PositiveInt


def pydantic_error() -> Exception:
    try:
        Line.model_validate({"quantity": -1})
    except Exception as exc:
        return exc
    raise AssertionError("unreachable")


class _PgError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__("SELECT secret FROM users WHERE email = 'a@b.c'")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("exc", "transient", "code"),
    [
        (ValidationError("The quantity must be positive."), False, "validation.failed"),
        (NotFoundError("The order does not exist."), False, "resource.not_found"),
        (ConflictError("The order is already confirmed."), False, "resource.conflict"),
        (UnknownEventTypeError(), False, "message.unknown_type"),
        (DependencyUnavailableError(), True, "dependency.unavailable"),
        (OperationTimeoutError(), True, "operation.timeout"),
        (TimeoutError(), True, "infrastructure.error"),
        (ConnectionResetError(), True, "infrastructure.error"),
        (OperationalError("SELECT 1", {}, _PgError("57P01")), True, "infrastructure.error"),
        (IntegrityError("INSERT", {}, _PgError("40001")), True, "infrastructure.error"),
        (IntegrityError("INSERT", {}, _PgError("23505")), False, "internal.error"),
        (KeyError("sku"), False, "internal.error"),
        (pydantic_error(), False, "validation.failed"),
    ],
)
def test_failures_are_classified_by_the_error_tree(
    exc: Exception, transient: bool, code: str
) -> None:
    failure = classify_failure(exc)
    assert (failure.transient, failure.code) == (transient, code)


def test_only_app_error_messages_are_exported_verbatim() -> None:
    assert classify_failure(ConflictError("Already confirmed.")).message == "Already confirmed."
    leaky = IntegrityError("INSERT", {}, _PgError("23505"))
    failure = classify_failure(leaky)
    assert "secret" not in failure.message
    assert "@" not in failure.message
    assert failure.message == "The handler raised IntegrityError."
    assert failure.error_class == "sqlalchemy.exc.IntegrityError"
    assert (
        classify_failure(pydantic_error()).message == "The payload failed validation (1 error(s))."
    )


def test_an_envelope_needs_an_event_id_and_a_type() -> None:
    assert read_envelope([("ce_id", b" e-1 "), ("ce_type", b"t.v1")]) == ("e-1", "t.v1")
    for headers in (
        [("ce_type", b"t.v1")],
        [("ce_id", b""), ("ce_type", b"t.v1")],
        [("ce_id", b"x" * 201), ("ce_type", b"t.v1")],
        [("ce_id", b"\xff\xfe"), ("ce_type", b"t.v1")],
        [("ce_id", b"e-1")],
    ):
        with pytest.raises(InvalidEnvelopeError):
            read_envelope(headers)


@pytest.mark.parametrize(
    ("value", "content_type", "expected"),
    [
        (b'{"a": 1}', None, {"a": 1}),
        (b'{"a": 1}', "application/json; charset=utf-8", {"a": 1}),
        (b"[1, 2]", "application/cloudevents+json", [1, 2]),
    ],
)
def test_json_payloads_decode(value: bytes, content_type: str | None, expected: object) -> None:
    assert decode_payload(value, content_type) == expected


@pytest.mark.parametrize(
    ("value", "content_type"),
    [
        (b"{nope", None),
        (b"\xff\xfe", "application/json"),
        (None, None),
        (b"<a/>", "application/xml"),
    ],
)
def test_undecodable_payloads_are_permanent_errors(
    value: bytes | None, content_type: str | None
) -> None:
    with pytest.raises(UndecodablePayloadError) as caught:
        decode_payload(value, content_type)
    assert "nope" not in caught.value.message  # the payload never leaks into the message


def test_an_event_carries_the_cloudevents_attributes_and_its_origin() -> None:
    headers = [
        ("ce_id", b"e-1"),
        ("ce_type", b"t.v1"),
        ("ce_source", b"/ordo/orders"),
        ("ce_subject", b"order-1"),
        ("ce_time", b"2026-11-26T12:00:00Z"),
        ("ce_orgid", b"org-1"),
    ]
    event = build_event(
        event_id="e-1",
        event_type="t.v1",
        data={"x": 1},
        key=b"order-1",
        headers=headers,
        topic="orders.events",
        partition=2,
        offset=40,
        attempt=3,
    )
    assert (event.source, event.subject, event.org_id) == ("/ordo/orders", "order-1", "org-1")
    assert event.time is not None
    assert event.time.isoformat() == "2026-11-26T12:00:00+00:00"
    assert (event.topic, event.partition, event.offset, event.attempt) == (
        "orders.events",
        2,
        40,
        3,
    )
    assert event.headers == tuple(headers)
