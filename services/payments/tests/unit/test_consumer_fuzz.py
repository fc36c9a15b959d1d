"""Fuzz of payments' consumer (``orders.events``): any record is applied or dead-lettered with
a typed, permanent error; an event as contracts/asyncapi/orders.yaml describes it reaches its
use case with the payload's values."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from payments.adapters.messaging.handlers import (
    MAX_AMOUNT,
    ORDER_CANCEL_REQUESTED,
    ORDER_CANCELLED,
    ORDER_PAYMENT_REQUESTED,
    ORDERS_EVENTS,
    build_handlers,
)
from shared.inbox.fuzzing import Recorder, assert_applied_or_refused, deliver, records

_ids = st.uuids().map(str)
_order = {"order_id": _ids, "org_id": _ids, "order_version": st.integers(1, 50)}
_amount = st.fixed_dictionaries(
    {"amount_minor": st.integers(0, MAX_AMOUNT), "currency": st.sampled_from(["EUR", "USD"])}
)
VALID: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    ORDER_PAYMENT_REQUESTED: st.fixed_dictionaries(
        {**_order, "reservation_id": _ids, "amount": _amount}
    ),
    ORDER_CANCEL_REQUESTED: st.fixed_dictionaries(_order),
    ORDER_CANCELLED: st.fixed_dictionaries(_order),
}


@settings(max_examples=300, deadline=None)
@given(record=records([*VALID, *sorted(ORDERS_EVENTS.ignores)], st.one_of(*VALID.values())))
def test_any_record_is_applied_or_refused_permanently(record: tuple[Any, bytes | None]) -> None:
    assert_applied_or_refused(build_handlers(Recorder()), *record)  # Recorder: the use cases


@settings(max_examples=60, deadline=None)
@given(data=st.data(), event_type=st.sampled_from(sorted(VALID)))
def test_a_contract_event_reaches_its_use_case(data: st.DataObject, event_type: str) -> None:
    payload = data.draw(VALID[event_type])
    event_id = uuid.uuid4()
    headers = [
        ("ce_id", str(event_id).encode()),
        ("ce_type", event_type.encode()),
        ("ce_orgid", payload["org_id"].encode()),
    ]
    recorder = Recorder()
    asyncio.run(deliver(build_handlers(recorder), headers, json.dumps(payload).encode()))
    [(_, applied)] = recorder.calls
    assert (str(applied.org_id), str(applied.order_id)) == (payload["org_id"], payload["order_id"])
    assert applied.causation_id == event_id
    if event_type == ORDER_PAYMENT_REQUESTED:
        amount = payload["amount"]
        assert (applied.amount.amount_minor, applied.amount.currency) == (
            amount["amount_minor"],
            amount["currency"],
        )
    else:
        assert applied.order_closed is (event_type == ORDER_CANCELLED)
