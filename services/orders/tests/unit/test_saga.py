"""The saga use cases through bootstrap on fakes: each reply, duplicates and late replies as
no-ops, unknown orders, the deadline sweeper and the worker's loop."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from prometheus_client import CollectorRegistry

from orders.adapters.worker import SWEEP_JOB, SagaWorker
from orders.application.facade import OrdersUseCases
from orders.application.use_cases.on_payment_authorization_deferred import PaymentDeferredInput
from orders.application.use_cases.on_payment_authorized import PaymentAuthorizedInput
from orders.application.use_cases.on_payment_failed import PaymentFailedInput
from orders.application.use_cases.on_stock_rejected import StockRejectedInput
from orders.application.use_cases.on_stock_released import StockReleasedInput
from orders.application.use_cases.on_stock_reserved import StockReservedInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.domain.errors import OrderNotFoundError, ReservationMismatchError
from orders.domain.model import Order, OrderStatus
from orders.domain.values import Money, OrderLine, RejectedLine
from shared.clock import FrozenClock
from shared.observability.metrics import Metrics

from .conftest import DEADLINES, Store, events_of, principal_of

PRODUCT = uuid.uuid4()


async def placed(orders: OrdersUseCases, org_id: uuid.UUID) -> Order:
    result = await orders.place_order(
        principal_of(org_id),
        PlaceOrderInput(org_id, "EUR", [OrderLine("A", 2)], str(uuid.uuid4())),
    )
    assert result.order is not None
    return result.order


def reserved(order: Order, price: int = 500) -> StockReservedInput:
    return StockReservedInput(
        org_id=order.org_id,
        order_id=order.id,
        reservation_id=uuid.uuid4(),
        lines=[OrderLine("A", 2, PRODUCT, Money(price, "EUR"))],
        total=Money(price * 2, "EUR"),
    )


def authorized(order: Order, amount: int = 1000) -> PaymentAuthorizedInput:
    return PaymentAuthorizedInput(order.org_id, order.id, uuid.uuid4(), Money(amount, "EUR"))


async def test_reserved_then_authorized_confirms_once(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    await orders.on_stock_reserved(reserved(order))
    await orders.on_stock_reserved(reserved(order, price=700))  # a duplicate: ignored
    awaiting = store.orders[order.id]
    assert (awaiting.status, awaiting.total) == (OrderStatus.AWAITING_PAYMENT, Money(1000, "EUR"))
    assert awaiting.lines[0].product_id == PRODUCT
    confirmed = await orders.on_payment_authorized(authorized(order))
    await orders.on_payment_authorized(authorized(order))
    await orders.on_payment_failed(PaymentFailedInput(org_id, order.id, uuid.uuid4()))
    assert (confirmed.status, confirmed.version) == (OrderStatus.CONFIRMED, 3)
    assert events_of(store, order.id) == ["OrderPlaced", "OrderPaymentRequested", "OrderConfirmed"]


async def test_rejected_is_terminal_and_later_replies_change_nothing(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    rejection = StockRejectedInput(org_id, order.id, "out_of_stock", [RejectedLine("A", 2, 1)])
    await orders.on_stock_rejected(rejection)
    await orders.on_stock_rejected(rejection)
    await orders.on_stock_reserved(reserved(order))
    await orders.on_stock_released(StockReleasedInput(org_id, order.id))
    final = store.orders[order.id]
    assert (final.status, final.version, final.status_reason) == (
        OrderStatus.REJECTED,
        2,
        "out_of_stock",
    )
    assert events_of(store, order.id) == ["OrderPlaced", "OrderRejected"]


async def test_payment_failed_compensates_then_cancels(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    await orders.on_stock_reserved(reserved(order))
    await orders.on_payment_failed(PaymentFailedInput(org_id, order.id, uuid.uuid4()))
    await orders.on_payment_authorized(authorized(order))  # late: payments voids it
    assert store.orders[order.id].status is OrderStatus.CANCELLING
    await orders.on_stock_released(StockReleasedInput(org_id, order.id))
    await orders.on_stock_released(StockReleasedInput(org_id, order.id))
    final = store.orders[order.id]
    assert (final.status, final.status_reason) == (OrderStatus.CANCELLED, "payment_failed")
    assert events_of(store, order.id) == [
        "OrderPlaced",
        "OrderPaymentRequested",
        "OrderCancelRequested",
        "OrderCancelled",
    ]


async def test_a_reply_for_an_unknown_order_is_an_error(
    orders: OrdersUseCases, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    with pytest.raises(OrderNotFoundError):
        await orders.on_stock_released(StockReleasedInput(org_id, uuid.uuid4()))
    with pytest.raises(OrderNotFoundError):  # the right order id, another org
        await orders.on_stock_released(StockReleasedInput(uuid.uuid4(), order.id))


async def test_a_mismatched_reservation_changes_nothing(
    orders: OrdersUseCases, store: Store, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    wrong = StockReservedInput(
        org_id,
        order.id,
        uuid.uuid4(),
        [OrderLine("A", 3, PRODUCT, Money(1, "EUR"))],
        Money(3, "EUR"),
    )
    with pytest.raises(ReservationMismatchError):
        await orders.on_stock_reserved(wrong)
    assert store.orders[order.id].status is OrderStatus.PENDING


async def test_the_sweeper_times_out_each_step(
    orders: OrdersUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    stuck_in_stock = await placed(orders, org_id)
    stuck_in_payment = await placed(orders, org_id)
    await orders.on_stock_reserved(reserved(stuck_in_payment))
    in_time = await placed(orders, org_id)
    await orders.on_stock_reserved(reserved(in_time))
    await orders.on_payment_authorized(authorized(in_time))

    clock.advance(DEADLINES.stock - timedelta(seconds=1))
    assert await orders.sweep_deadlines() == 0
    clock.advance(timedelta(seconds=1))
    assert await orders.sweep_deadlines() == 1
    assert store.orders[stuck_in_stock.id].status_reason == "stock_timeout"
    clock.advance(DEADLINES.payment - DEADLINES.stock)  # 60 s after placing
    assert await orders.sweep_deadlines() == 1
    assert store.orders[stuck_in_payment.id].status_reason == "payment_timeout"
    assert store.orders[in_time.id].status is OrderStatus.CONFIRMED
    # The first cancel's compensations are overdue: asked for again, then answered.
    clock.advance(DEADLINES.stock + DEADLINES.compensation_retry - DEADLINES.payment)
    assert await orders.sweep_deadlines() == 1
    assert events_of(store, stuck_in_stock.id).count("OrderCancelRequested") == 2
    await orders.on_stock_released(StockReleasedInput(org_id, stuck_in_stock.id))
    assert store.orders[stuck_in_stock.id].status is OrderStatus.CANCELLED


async def test_a_deferral_keeps_the_sweeper_away(
    orders: OrdersUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    order = await placed(orders, org_id)
    await orders.on_stock_reserved(reserved(order))
    next_attempt = clock.now() + timedelta(seconds=50)
    await orders.on_payment_authorization_deferred(
        PaymentDeferredInput(org_id, order.id, next_attempt)
    )
    clock.advance(DEADLINES.payment + timedelta(seconds=1))
    assert await orders.sweep_deadlines() == 0
    assert store.orders[order.id].status is OrderStatus.AWAITING_PAYMENT
    clock.set(next_attempt + DEADLINES.payment)
    assert await orders.sweep_deadlines() == 1
    assert store.orders[order.id].status_reason == "payment_timeout"


async def test_the_sweeper_works_in_batches(
    orders: OrdersUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    for _ in range(5):
        await placed(orders, org_id)
    clock.advance(DEADLINES.stock)
    assert await orders.sweep_deadlines(batch=2) == 2
    assert await orders.sweep_deadlines(batch=2) == 2
    assert await orders.sweep_deadlines(batch=2) == 1
    assert {o.status for o in store.orders.values()} == {OrderStatus.CANCELLING}


async def test_the_worker_sweeps_and_counts_its_rounds(
    orders: OrdersUseCases, store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    for _ in range(3):
        await placed(orders, org_id)
    clock.advance(timedelta(hours=25))
    metrics = Metrics(CollectorRegistry())
    worker = SagaWorker(orders, batch_size=2, metrics=metrics)
    await worker.run_once()
    await worker.run_once()
    assert {o.status for o in store.orders.values()} == {OrderStatus.CANCELLING}

    def count(job: str, outcome: str) -> float | None:
        return metrics.registry.get_sample_value("jobs_total", {"job": job, "outcome": outcome})

    assert count(SWEEP_JOB, "succeeded") == 2


async def test_a_failing_round_is_counted_and_the_worker_goes_on(
    orders: OrdersUseCases, org_id: uuid.UUID
) -> None:
    metrics = Metrics(CollectorRegistry())

    class Broken:
        async def __call__(self, **_: object) -> int:
            raise ConnectionError("database down")

    broken = OrdersUseCases(
        **{name: getattr(orders, name) for name in OrdersUseCases.__dataclass_fields__}
        | {"sweep_deadlines": Broken()}
    )
    worker = SagaWorker(broken, sweep_interval_s=0.01, metrics=metrics)
    await worker.run_once()
    assert (
        metrics.registry.get_sample_value("jobs_total", {"job": SWEEP_JOB, "outcome": "failed"})
        == 1
    )
    assert worker.rounds == 1
