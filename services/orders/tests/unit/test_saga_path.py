"""Outages delay, they do not cancel: while the saga's path is blocked (or recovering), the
sweeper holds passed stock and payment deadlines, up to each step's hard bound; the guard's
recovery window; the worker's gauge; and the composite probe."""

from __future__ import annotations

import uuid
from datetime import timedelta

from prometheus_client import CollectorRegistry

from orders.adapters.saga_path import FirstBlocked
from orders.adapters.worker import SagaWorker
from orders.application.facade import OrdersUseCases
from orders.application.saga_path import SagaPathGuard
from orders.application.use_cases.on_stock_reserved import StockReservedInput
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.bootstrap import bootstrap
from orders.domain.model import Order, OrderStatus
from orders.domain.values import Money, OrderLine
from shared.clock import FrozenClock
from shared.observability.metrics import Metrics

from .conftest import DEADLINES, FakeUnitOfWork, Store, events_of, principal_of

STOCK_MAX = timedelta(minutes=10)
HELD = DEADLINES.__class__(
    stock=DEADLINES.stock,
    payment=DEADLINES.payment,
    payment_max_wait=DEADLINES.payment_max_wait,
    compensation_retry=DEADLINES.compensation_retry,
    stock_max_wait=STOCK_MAX,
)
RECOVERY = timedelta(seconds=30)


class Probe:
    """A saga path whose state the test sets."""

    def __init__(self, reason: str | None = None) -> None:
        self.reason = reason
        self.calls = 0

    async def blocked(self) -> str | None:
        self.calls += 1
        return self.reason


def wired(
    store: Store, clock: FrozenClock, probe: Probe, recovery: timedelta = RECOVERY
) -> OrdersUseCases:
    guard = SagaPathGuard(probe, recovery=recovery, min_probe_interval=timedelta(0))
    return bootstrap(
        uow=lambda: FakeUnitOfWork(store, clock), clock=clock, deadlines=HELD, saga_path=guard
    )


async def placed(orders: OrdersUseCases, org_id: uuid.UUID) -> Order:
    result = await orders.place_order(
        principal_of(org_id),
        PlaceOrderInput(org_id, "EUR", [OrderLine("A", 1)], str(uuid.uuid4())),
    )
    assert result.order is not None
    return result.order


async def test_a_blocked_path_holds_every_step_past_its_deadline_until_the_hard_bound(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    probe = Probe("Kafka did not answer orders-worker (KafkaConnectionError)")
    orders = wired(store, clock, probe)
    waiting_for_stock = await placed(orders, org_id)
    waiting_for_payment = await placed(orders, org_id)
    await orders.on_stock_reserved(
        StockReservedInput(
            org_id=org_id,
            order_id=waiting_for_payment.id,
            reservation_id=uuid.uuid4(),
            lines=[OrderLine("A", 1, uuid.uuid4(), Money(100, "EUR"))],
            total=Money(100, "EUR"),
        )
    )
    # Blocked for several times each step's deadline: nothing is cancelled.
    for _ in range(9):
        clock.advance(DEADLINES.payment)  # 60 s a round, up to 9 minutes
        await orders.sweep_deadlines()
        assert orders.sweep_deadlines.last_hold_reason == probe.reason
        assert {o.status for o in store.orders.values()} == {
            OrderStatus.PENDING,
            OrderStatus.AWAITING_PAYMENT,
        }
    held = store.orders[waiting_for_stock.id]
    assert held.deadline_at is not None
    assert held.deadline_at <= held.placed_at + STOCK_MAX  # never past the hard bound
    assert "OrderCancelRequested" not in events_of(store, waiting_for_stock.id)
    # Past each hard bound (10 min after placing / after the payment request), they time out.
    clock.advance(timedelta(minutes=1, seconds=1))
    await orders.sweep_deadlines()
    assert store.orders[waiting_for_stock.id].status_reason == "stock_timeout"
    assert store.orders[waiting_for_payment.id].status_reason == "payment_timeout"


async def test_after_the_path_clears_every_step_has_a_full_step_of_time_then_times_out(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    probe = Probe("orders' relay has not published rows waiting for 12 s")
    orders = wired(store, clock, probe)
    early = await placed(orders, org_id)  # placed at 0 s, due at 30 s
    clock.advance(DEADLINES.stock)
    await orders.sweep_deadlines()  # 30 s: blocked, held to 60 s
    clock.advance(timedelta(seconds=10))
    late = await placed(orders, org_id)  # placed at 40 s, due at 70 s
    clock.advance(timedelta(seconds=10))
    await orders.sweep_deadlines()  # 50 s: blocked for the last time
    probe.reason = None
    clock.advance(timedelta(seconds=10))
    await orders.sweep_deadlines()  # 60 s: recovering; early is due: held to 90 s
    clock.advance(timedelta(seconds=10))
    await orders.sweep_deadlines()  # 70 s: recovering; late is due: held to 100 s
    clock.advance(timedelta(seconds=9))
    await orders.sweep_deadlines()  # 79 s: recovering, nothing due
    assert {o.status for o in store.orders.values()} == {OrderStatus.PENDING}
    clock.advance(timedelta(seconds=1))
    await orders.sweep_deadlines()  # 80 s: 30 s after the path was last seen blocked
    assert orders.sweep_deadlines.last_hold_reason is None
    # Each had at least a stock step (30 s) of a working path after the outage.
    clock.advance(timedelta(seconds=10))
    await orders.sweep_deadlines()  # 90 s
    assert store.orders[early.id].status_reason == "stock_timeout"
    assert store.orders[late.id].status is OrderStatus.PENDING
    clock.advance(timedelta(seconds=10))
    await orders.sweep_deadlines()  # 100 s
    assert store.orders[late.id].status_reason == "stock_timeout"


async def test_a_fresh_guard_assumes_it_follows_an_outage(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    orders = wired(store, clock, Probe(None))
    order = await placed(orders, org_id)
    clock.advance(DEADLINES.stock)
    await orders.sweep_deadlines()  # the worker's first sweep: it does not know the past
    assert store.orders[order.id].status is OrderStatus.PENDING
    assert "worker started" in (orders.sweep_deadlines.last_hold_reason or "")
    clock.advance(DEADLINES.stock)
    await orders.sweep_deadlines()
    assert store.orders[order.id].status_reason == "stock_timeout"


async def test_a_clear_path_changes_nothing_and_cancelling_orders_are_never_held(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    orders = wired(store, clock, Probe(None), recovery=timedelta(0))
    order = await placed(orders, org_id)
    clock.advance(DEADLINES.stock)
    assert await orders.sweep_deadlines() == 1
    assert store.orders[order.id].status_reason == "stock_timeout"
    assert not store.orders[order.id].hold(now=clock.now(), deadlines=HELD)


async def test_the_guard_asks_the_probe_at_most_once_per_interval() -> None:
    clock = FrozenClock()
    probe = Probe("down")
    guard = SagaPathGuard(probe, recovery=RECOVERY, min_probe_interval=timedelta(seconds=1))
    assert await guard.hold_reason(clock.now()) == "down"
    probe.reason = None
    assert await guard.hold_reason(clock.advance(0.5)) == "down"  # the last answer stands
    assert probe.calls == 1
    reason = await guard.hold_reason(clock.advance(0.5))
    assert reason is not None
    assert reason.startswith("recovering")
    assert probe.calls == 2


async def test_the_worker_shows_a_held_sweeper_as_a_gauge(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    probe = Probe("down")
    metrics = Metrics(CollectorRegistry())
    closed: list[str] = []

    async def close() -> None:
        closed.append("kafka")

    worker = SagaWorker(
        wired(store, clock, probe, recovery=timedelta(0)), metrics=metrics, closers=[close]
    )
    await worker.run_once()
    assert metrics.registry.get_sample_value("orders_saga_deadlines_held") == 1
    probe.reason = None
    clock.advance(1)
    await worker.run_once()
    assert metrics.registry.get_sample_value("orders_saga_deadlines_held") == 0
    worker.stop()
    await worker.run()
    assert closed == ["kafka"]


async def test_the_first_blocked_probe_wins_and_later_ones_are_not_asked() -> None:
    clear, down, unused = Probe(None), Probe("relay stalled"), Probe("never asked")
    assert await FirstBlocked([clear, down, unused]).blocked() == "relay stalled"
    assert (clear.calls, down.calls, unused.calls) == (1, 1, 0)
    assert await FirstBlocked([clear]).blocked() is None
