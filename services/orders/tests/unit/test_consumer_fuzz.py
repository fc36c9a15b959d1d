"""Fuzz of orders' two consumers (``catalog.events``, ``payments.events``): any record is
applied or dead-lettered with a typed, permanent error; a reply as contracts/asyncapi/catalog.yaml
and payments.yaml describe it reaches its use case with the payload's values."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from orders.adapters.messaging.handlers import (
    CATALOG_EVENTS,
    PAYMENT_AUTHORIZATION_DEFERRED,
    PAYMENT_AUTHORIZED,
    PAYMENT_FAILED,
    PAYMENTS_EVENTS,
    STOCK_REJECTED,
    STOCK_RELEASED,
    STOCK_RESERVED,
    build_catalog_handlers,
    build_payment_handlers,
)
from shared.inbox.fuzzing import Recorder, assert_applied_or_refused, deliver, records

_ids = st.uuids().map(str)
_sku = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", fullmatch=True)
_money = st.fixed_dictionaries(
    {"amount_minor": st.integers(0, 900_000_000_000_000), "currency": st.just("EUR")}
)
_reply = {"order_id": _ids, "org_id": _ids}
_priced = st.fixed_dictionaries(
    {
        "product_id": _ids,
        "sku": _sku,
        "quantity": st.integers(1, 10_000),
        "unit_price": _money,
        "line_total": _money,
    }
)
_rejected = st.fixed_dictionaries(
    {"sku": _sku, "requested": st.integers(1, 10_000), "available": st.none() | st.integers(0)}
)
_instant = st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
CATALOG: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    STOCK_RESERVED: st.fixed_dictionaries(
        {
            **_reply,
            "reservation_id": _ids,
            "lines": st.lists(_priced, min_size=1, max_size=4),
            "total": _money,
        }
    ),
    STOCK_REJECTED: st.fixed_dictionaries(
        {
            **_reply,
            "reason": st.sampled_from(["out_of_stock", "unknown_sku", "currency_mismatch"]),
            "rejected_lines": st.lists(_rejected, max_size=4),
        }
    ),
    STOCK_RELEASED: st.fixed_dictionaries(_reply),
}
PAYMENTS: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    PAYMENT_AUTHORIZED: st.fixed_dictionaries({**_reply, "payment_id": _ids, "amount": _money}),
    PAYMENT_FAILED: st.fixed_dictionaries({**_reply, "payment_id": _ids}),
    PAYMENT_AUTHORIZATION_DEFERRED: st.fixed_dictionaries(
        {**_reply, "payment_id": _ids, "next_attempt_at": _instant}
    ),
}


@settings(max_examples=300, deadline=None)
@given(record=records([*CATALOG, *sorted(CATALOG_EVENTS.ignores)], st.one_of(*CATALOG.values())))
def test_any_catalog_record_is_applied_or_refused(record: tuple[Any, bytes | None]) -> None:
    assert_applied_or_refused(build_catalog_handlers(Recorder()), *record)  # the use cases


@settings(max_examples=300, deadline=None)
@given(record=records([*PAYMENTS, *sorted(PAYMENTS_EVENTS.ignores)], st.one_of(*PAYMENTS.values())))
def test_any_payments_record_is_applied_or_refused(record: tuple[Any, bytes | None]) -> None:
    assert_applied_or_refused(build_payment_handlers(Recorder()), *record)


@settings(max_examples=80, deadline=None)
@given(data=st.data(), event_type=st.sampled_from(sorted({**CATALOG, **PAYMENTS})))
def test_a_contract_reply_reaches_its_use_case(data: st.DataObject, event_type: str) -> None:
    payload = data.draw({**CATALOG, **PAYMENTS}[event_type])
    headers = [
        ("ce_id", str(uuid.uuid4()).encode()),
        ("ce_type", event_type.encode()),
        ("ce_orgid", payload["org_id"].encode()),
    ]
    recorder = Recorder()
    build = build_catalog_handlers if event_type in CATALOG else build_payment_handlers
    asyncio.run(deliver(build(recorder), headers, json.dumps(payload).encode()))
    [(_, applied)] = recorder.calls
    assert (str(applied.org_id), str(applied.order_id)) == (payload["org_id"], payload["order_id"])
    if event_type == STOCK_RESERVED:
        assert applied.total.amount_minor == payload["total"]["amount_minor"]
        assert [(ln.sku, ln.quantity, str(ln.product_id)) for ln in applied.lines] == [
            (ln["sku"], ln["quantity"], ln["product_id"]) for ln in payload["lines"]
        ]
    if event_type == STOCK_REJECTED:
        assert applied.reason == payload["reason"]
        assert len(applied.rejected_lines) == len(payload["rejected_lines"])
    if event_type == PAYMENT_AUTHORIZED:
        assert str(applied.payment_id) == payload["payment_id"]
        assert applied.amount.amount_minor == payload["amount"]["amount_minor"]
    if event_type == PAYMENT_AUTHORIZATION_DEFERRED:
        assert applied.next_attempt_at == datetime.fromisoformat(payload["next_attempt_at"])
