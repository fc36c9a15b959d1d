"""Fuzz of notifications' two consumers (``orders.events``, ``payments.events``): any record is
applied or dead-lettered with a typed, permanent error; an event as the contracts describe it
becomes one scheduling of deliveries carrying the payload unchanged."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from notifications.adapters.messaging.handlers import (
    ORDER_HANDLED,
    ORDERS_EVENTS,
    PAYMENT_HANDLED,
    PAYMENTS_EVENTS,
    build_order_handlers,
    build_payment_handlers,
)
from shared.inbox.fuzzing import (
    Recorder,
    assert_applied_or_refused,
    deliver,
    records,
    storable_json_values,
)

_ids = st.uuids().map(str)
_instant = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
_TIME_FIELD = {
    "placed": "placed_at",
    "confirmed": "confirmed_at",
    "rejected": "rejected_at",
    "cancelled": "cancelled_at",
    "authorized": "authorized_at",
    "failed": "failed_at",
}
HANDLED = {**ORDER_HANDLED, **PAYMENT_HANDLED}


def _valid(ce_type: str) -> st.SearchStrategy[dict[str, Any]]:
    verb = ce_type.split(".")[-2]
    base = {"order_id": _ids, "org_id": _ids, _TIME_FIELD[verb]: _instant}
    # Whatever else the event carries is passed on to the webhook as it is (text that can be
    # stored: a NUL in a payload is refused, which the any-record fuzz above covers).
    return st.fixed_dictionaries(
        base, optional={"extra": storable_json_values, "order_version": st.integers(1, 9)}
    )


@settings(max_examples=300, deadline=None)
@given(
    record=records(
        [*ORDER_HANDLED, *sorted(ORDERS_EVENTS.ignores)], st.one_of(*map(_valid, ORDER_HANDLED))
    )
)
def test_any_order_record_is_applied_or_refused(record: tuple[Any, bytes | None]) -> None:
    assert_applied_or_refused(build_order_handlers(Recorder()), *record)  # the use cases


@settings(max_examples=300, deadline=None)
@given(
    record=records(
        [*PAYMENT_HANDLED, *sorted(PAYMENTS_EVENTS.ignores)],
        st.one_of(*map(_valid, PAYMENT_HANDLED)),
    )
)
def test_any_payment_record_is_applied_or_refused(record: tuple[Any, bytes | None]) -> None:
    assert_applied_or_refused(build_payment_handlers(Recorder()), *record)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), ce_type=st.sampled_from(sorted(HANDLED)))
def test_a_contract_event_is_scheduled_with_its_payload(data: st.DataObject, ce_type: str) -> None:
    payload = data.draw(_valid(ce_type))
    event_id = uuid.uuid4()
    headers = [
        ("ce_id", str(event_id).encode()),
        ("ce_type", ce_type.encode()),
        ("ce_orgid", payload["org_id"].encode()),
    ]
    recorder = Recorder()
    build = build_order_handlers if ce_type in ORDER_HANDLED else build_payment_handlers
    asyncio.run(deliver(build(recorder), headers, json.dumps(payload).encode()))
    [(_, scheduled)] = recorder.calls
    assert (scheduled.event_id, scheduled.event_type) == (event_id, HANDLED[ce_type])
    assert str(scheduled.org_id) == payload["org_id"]
    assert scheduled.data == payload
    verb = ce_type.split(".")[-2]
    assert scheduled.occurred_at == datetime.fromisoformat(payload[_TIME_FIELD[verb]])
