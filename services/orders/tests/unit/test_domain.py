"""The order aggregate alone: its state machine, its events, its deadlines, its guards.

The property test drives random sequences of saga replies, cancels and timeouts (duplicated,
late and out of order) and checks the saga's invariant: an order reaches at most one terminal
state, never leaves it, and every change is a legal transition with version + 1.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orders.domain.errors import (
    InvalidOrderError,
    OrderNotCancellableError,
    PaymentMismatchError,
    ReservationMismatchError,
)
from orders.domain.events import (
    OrderCancelled,
    OrderCancelRequested,
    OrderConfirmed,
    OrderPaymentRequested,
    OrderPlaced,
    OrderRejected,
)
from orders.domain.model import TERMINAL, TRANSITIONS, Order, OrderStatus
from orders.domain.values import Deadlines, Money, OrderLine, RejectedLine

NOW = datetime(2026, 11, 26, 12, tzinfo=UTC)
DEADLINES = Deadlines(
    stock=timedelta(seconds=30),
    payment=timedelta(seconds=60),
    payment_max_wait=timedelta(seconds=300),
    compensation_retry=timedelta(seconds=45),
)
PRODUCT_A, PRODUCT_B = uuid.uuid4(), uuid.uuid4()


def placed(now: datetime = NOW) -> Order:
    return Order.place(
        id=uuid.uuid4(),
        org_id=uuid.uuid4(),
        placed_by=uuid.uuid4(),
        currency="EUR",
        lines=[OrderLine("A", 2), OrderLine("B", 1)],
        now=now,
        deadlines=DEADLINES,
    )


def priced() -> list[OrderLine]:
    return [
        OrderLine("B", 1, PRODUCT_B, Money(999, "EUR")),
        OrderLine("A", 2, PRODUCT_A, Money(1999, "EUR")),
    ]


def reserve(order: Order, now: datetime = NOW) -> bool:
    return order.stock_reserved(
        reservation_id=uuid.uuid4(),
        lines=priced(),
        total=Money(4997, "EUR"),
        now=now,
        deadlines=DEADLINES,
    )


def reserve_free(order: Order, now: datetime = NOW) -> bool:
    return order.stock_reserved(
        reservation_id=uuid.uuid4(),
        lines=[
            OrderLine("B", 1, PRODUCT_B, Money(0, "EUR")),
            OrderLine("A", 2, PRODUCT_A, Money(0, "EUR")),
        ],
        total=Money(0, "EUR"),
        now=now,
        deadlines=DEADLINES,
    )


def kinds(order: Order) -> list[type]:
    return [type(e) for e in order.pull_events()]


def test_placing_records_order_placed_at_version_1_with_the_stock_deadline() -> None:
    order = placed()
    assert (order.status, order.version) == (OrderStatus.PENDING, 1)
    assert order.deadline_at == NOW + DEADLINES.stock
    assert order.total is None
    (event,) = order.pull_events()
    assert isinstance(event, OrderPlaced)
    assert (event.order_version, [ln.sku for ln in event.lines]) == (1, ["A", "B"])


@pytest.mark.parametrize(
    ("lines", "currency"),
    [
        ([], "EUR"),
        ([OrderLine("A", 1), OrderLine("A", 2)], "EUR"),
        ([OrderLine("A", 1)], "eur"),
        ([OrderLine(f"S{n}", 1) for n in range(101)], "EUR"),
    ],
)
def test_invalid_orders_are_refused(lines: list[OrderLine], currency: str) -> None:
    with pytest.raises(InvalidOrderError):
        Order.place(
            id=uuid.uuid4(),
            org_id=uuid.uuid4(),
            placed_by=uuid.uuid4(),
            currency=currency,
            lines=lines,
            now=NOW,
            deadlines=DEADLINES,
        )


@pytest.mark.parametrize(("sku", "quantity"), [("", 1), ("-x", 1), ("A", 0), ("A", 10_001)])
def test_invalid_lines_are_refused(sku: str, quantity: int) -> None:
    with pytest.raises(InvalidOrderError):
        OrderLine(sku, quantity)


def test_the_happy_path_prices_requests_payment_and_confirms() -> None:
    order = placed()
    order.pull_events()
    assert reserve(order, NOW + timedelta(seconds=1))
    assert order.status is OrderStatus.AWAITING_PAYMENT
    assert [(ln.sku, ln.product_id, ln.line_total) for ln in order.lines] == [
        ("A", PRODUCT_A, Money(3998, "EUR")),
        ("B", PRODUCT_B, Money(999, "EUR")),
    ]
    assert order.deadline_at == NOW + timedelta(seconds=1) + DEADLINES.payment
    (requested,) = order.pull_events()
    assert isinstance(requested, OrderPaymentRequested)
    assert (requested.amount, requested.order_version) == (Money(4997, "EUR"), 2)
    payment = uuid.uuid4()
    assert order.payment_authorized(payment_id=payment, amount=Money(4997, "EUR"), now=NOW)
    (confirmed,) = order.pull_events()
    assert isinstance(confirmed, OrderConfirmed)
    assert (confirmed.payment_id, confirmed.order_version, len(confirmed.lines)) == (payment, 3, 2)
    assert (order.status, order.deadline_at, order.confirmed_at) == (
        OrderStatus.CONFIRMED,
        None,
        NOW,
    )


def test_an_order_with_nothing_to_pay_is_confirmed_when_its_stock_is_reserved() -> None:
    order = placed()
    order.pull_events()
    assert reserve_free(order, NOW + timedelta(seconds=1))
    (confirmed,) = order.pull_events()  # no payment requested: there is nothing to authorise
    assert isinstance(confirmed, OrderConfirmed)
    assert (confirmed.payment_id, confirmed.total, confirmed.order_version) == (
        None,
        Money(0, "EUR"),
        2,
    )
    assert (order.status, order.payment_id, order.deadline_at) == (
        OrderStatus.CONFIRMED,
        None,
        None,
    )
    assert order.payment_requested_at is None
    assert not reserve(order)  # a late duplicate reply changes nothing


def test_a_reservation_that_does_not_match_the_order_is_refused() -> None:
    wrong = [
        [OrderLine("A", 2, PRODUCT_A, Money(1999, "EUR"))],  # a line missing
        [OrderLine("A", 3, PRODUCT_A, Money(1999, "EUR")), priced()[0]],  # quantity
        [OrderLine("A", 2, PRODUCT_A, Money(1999, "USD")), priced()[0]],  # currency
        [OrderLine("A", 2, None, Money(1999, "EUR")), priced()[0]],  # not priced
    ]
    for lines in wrong:
        order = placed()
        with pytest.raises(ReservationMismatchError):
            order.stock_reserved(
                reservation_id=uuid.uuid4(),
                lines=lines,
                total=Money(4997, "EUR"),
                now=NOW,
                deadlines=DEADLINES,
            )
        assert (order.status, order.version) == (OrderStatus.PENDING, 1)
    order = placed()
    with pytest.raises(ReservationMismatchError):  # a total that is not the sum
        order.stock_reserved(
            reservation_id=uuid.uuid4(),
            lines=priced(),
            total=Money(1, "EUR"),
            now=NOW,
            deadlines=DEADLINES,
        )


def test_an_authorisation_of_another_amount_is_refused() -> None:
    order = placed()
    reserve(order)
    with pytest.raises(PaymentMismatchError):
        order.payment_authorized(payment_id=uuid.uuid4(), amount=Money(1, "EUR"), now=NOW)
    assert order.status is OrderStatus.AWAITING_PAYMENT


def test_stock_rejected_rejects_a_pending_order_for_good() -> None:
    order = placed()
    order.pull_events()
    line = RejectedLine("A", 2, 1)
    assert order.stock_rejected(reason="out_of_stock", rejected_lines=[line], now=NOW)
    (event,) = order.pull_events()
    assert isinstance(event, OrderRejected)
    assert (event.reason, event.rejected_lines, event.order_version) == ("out_of_stock", (line,), 2)
    assert (order.status, order.status_reason, order.closed_at) == (
        OrderStatus.REJECTED,
        "out_of_stock",
        NOW,
    )
    assert not reserve(order)
    with pytest.raises(OrderNotCancellableError):
        order.cancel(by=uuid.uuid4(), note=None, now=NOW, deadlines=DEADLINES)


def test_customer_cancel_then_release_cancels_once() -> None:
    order = placed()
    order.pull_events()
    user = uuid.uuid4()
    assert order.cancel(by=user, note="changed my mind", now=NOW, deadlines=DEADLINES)
    (requested,) = order.pull_events()
    assert isinstance(requested, OrderCancelRequested)
    assert (requested.reason, requested.requested_by) == ("customer_requested", user)
    assert not order.cancel(by=user, note=None, now=NOW, deadlines=DEADLINES)  # idempotent
    assert order.cancel_note == "changed my mind"
    assert not reserve(order)  # late reservation: catalog releases it on the cancel
    assert order.stock_released(now=NOW)
    assert kinds(order) == [OrderCancelled]
    assert not order.stock_released(now=NOW)
    assert not order.cancel(by=user, note=None, now=NOW, deadlines=DEADLINES)
    assert (order.status, order.version, order.status_reason) == (
        OrderStatus.CANCELLED,
        3,
        "customer_requested",
    )


def test_payment_failed_cancels_with_its_reason() -> None:
    order = placed()
    reserve(order)
    order.pull_events()
    assert order.payment_failed(payment_id=uuid.uuid4(), now=NOW, deadlines=DEADLINES)
    (event,) = order.pull_events()
    assert isinstance(event, OrderCancelRequested)
    assert (event.reason, event.requested_by) == ("payment_failed", None)
    late = order.payment_authorized(payment_id=uuid.uuid4(), amount=Money(4997, "EUR"), now=NOW)
    assert not late
    assert order.stock_released(now=NOW)
    assert order.status is OrderStatus.CANCELLED


def test_deadlines_time_out_each_step_with_its_reason() -> None:
    pending = placed()
    assert not pending.time_out(
        now=NOW + DEADLINES.stock - timedelta(seconds=1), deadlines=DEADLINES
    )
    assert pending.time_out(now=NOW + DEADLINES.stock, deadlines=DEADLINES)
    assert (pending.status, pending.status_reason) == (OrderStatus.CANCELLING, "stock_timeout")

    awaiting = placed()
    reserve(awaiting)
    assert awaiting.time_out(now=NOW + DEADLINES.payment, deadlines=DEADLINES)
    assert awaiting.status_reason == "payment_timeout"


def test_an_unanswered_cancel_is_requested_again_without_a_new_version() -> None:
    order = placed()
    order.cancel(by=uuid.uuid4(), note=None, now=NOW, deadlines=DEADLINES)
    order.pull_events()
    later = NOW + DEADLINES.compensation_retry
    assert order.time_out(now=later, deadlines=DEADLINES)
    (again,) = order.pull_events()
    assert isinstance(again, OrderCancelRequested)
    assert (again.order_version, order.version) == (2, 2)
    assert order.deadline_at == later + DEADLINES.compensation_retry


def test_a_deferral_extends_the_payment_deadline_within_bounds() -> None:
    order = placed()
    reserve(order)
    first = order.deadline_at
    assert first is not None
    assert not order.payment_deferred(
        next_attempt_at=NOW - timedelta(seconds=30), now=NOW, deadlines=DEADLINES
    )  # would move it backwards
    assert order.payment_deferred(
        next_attempt_at=NOW + timedelta(seconds=20), now=NOW, deadlines=DEADLINES
    )
    assert order.deadline_at == NOW + timedelta(seconds=20) + DEADLINES.payment
    assert order.payment_deferred(
        next_attempt_at=NOW + timedelta(hours=2), now=NOW, deadlines=DEADLINES
    )
    assert order.deadline_at == NOW + DEADLINES.payment_max_wait  # capped
    assert order.version == 2  # no event, no version
    assert order.pull_events()[-1].__class__ is OrderPaymentRequested
    pending = placed()
    assert not pending.payment_deferred(next_attempt_at=NOW, now=NOW, deadlines=DEADLINES)


# -- the saga's invariant, over random traffic -----------------------------------------------

STEPS = (
    "reserved",
    "reserved_free",
    "rejected",
    "released",
    "authorized",
    "failed",
    "deferred",
    "cancel",
    "tick",
)


def apply(order: Order, step: str, now: datetime) -> None:
    if step == "reserved":
        reserve(order, now)
    elif step == "reserved_free":
        reserve_free(order, now)
    elif step == "rejected":
        order.stock_rejected(reason="out_of_stock", rejected_lines=[], now=now)
    elif step == "released":
        order.stock_released(now=now)
    elif step == "authorized":
        order.payment_authorized(payment_id=uuid.uuid4(), amount=Money(4997, "EUR"), now=now)
    elif step == "failed":
        order.payment_failed(payment_id=uuid.uuid4(), now=now, deadlines=DEADLINES)
    elif step == "deferred":
        order.payment_deferred(next_attempt_at=now, now=now, deadlines=DEADLINES)
    elif step == "cancel":
        try:
            order.cancel(by=uuid.uuid4(), note=None, now=now, deadlines=DEADLINES)
        except OrderNotCancellableError:
            assert order.status in (OrderStatus.CONFIRMED, OrderStatus.REJECTED)
    else:
        order.time_out(now=now, deadlines=DEADLINES)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(STEPS), st.integers(min_value=0, max_value=120)),
        max_size=40,
    )
)
def test_never_two_terminal_states_nor_a_move_out_of_one(
    steps: list[tuple[str, int]],
) -> None:
    order = placed()
    order.pull_events()
    now = NOW
    terminals: list[OrderStatus] = []
    terminal_events = 0
    for step, seconds in steps:
        now += timedelta(seconds=seconds)
        before, version = order.status, order.version
        apply(order, step, now)
        if order.status is not before:
            assert order.status in TRANSITIONS[before]
            assert order.version == version + 1
        else:
            assert order.version == version
        if before in TERMINAL:
            assert order.status is before  # never a transition out of a terminal state
        if order.status in TERMINAL and order.status is not before:
            terminals.append(order.status)
        events = order.pull_events()
        terminal_events += sum(
            isinstance(e, OrderConfirmed | OrderRejected | OrderCancelled) for e in events
        )
        assert all(e.order_version == order.version for e in events)
        assert (order.deadline_at is None) == order.is_terminal
    assert len(terminals) <= 1
    assert terminal_events == len(terminals)
