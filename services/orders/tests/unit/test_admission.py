"""Saga backpressure: the decision (pure), the background measurement (fake probe) and
PlaceOrder refusing before it claims the key (fakes through bootstrap)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import CollectorRegistry

from orders.adapters.admission import BACKPRESSURE_FLAG, SagaAdmission
from orders.application.admission import (
    ADMIT,
    AdmissionDecision,
    AdmissionPolicy,
    OrdersOverloadedError,
    SagaLoad,
    decide,
)
from orders.application.use_cases.place_order import PlaceOrderInput
from orders.bootstrap import bootstrap
from orders.domain.values import OrderLine
from shared.clock import FrozenClock
from shared.flags import StaticFlags
from shared.http import status_for
from shared.observability.metrics import Metrics

from .conftest import DEADLINES, FakeUnitOfWork, Store, principal_of

POLICY = AdmissionPolicy(max_saga_lag_s=1.0, max_outbox_age_s=2.0, resume_ratio=0.5)
REFUSED_LAG = AdmissionDecision(admit=False, reason="saga_lag")


def load(lag: float = 0.0, outbox: float = 0.0) -> SagaLoad:
    return SagaLoad(saga_lag_s=lag, outbox_age_s=outbox)


# -- the decision --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("measured", "decision"),
    [
        (load(), ADMIT),
        (load(lag=1.0), ADMIT),  # at the threshold: still taken
        (load(lag=1.01), REFUSED_LAG),
        (load(outbox=2.5), AdmissionDecision(admit=False, reason="outbox_age")),
        (load(lag=5, outbox=5), AdmissionDecision(admit=False, reason="outbox_age")),
        (None, ADMIT),  # no measurement: no evidence to refuse on
    ],
)
def test_orders_are_refused_past_a_threshold(
    measured: SagaLoad | None, decision: AdmissionDecision
) -> None:
    assert decide(POLICY, measured) == decision


def test_once_refusing_intake_resumes_only_below_the_lower_bound() -> None:
    assert decide(POLICY, load(lag=0.8), REFUSED_LAG) == REFUSED_LAG  # between 0.5 and 1.0
    assert decide(POLICY, load(lag=0.5), REFUSED_LAG) == ADMIT
    outbox_refused = AdmissionDecision(admit=False, reason="outbox_age")
    assert decide(POLICY, load(outbox=1.5), outbox_refused) == outbox_refused
    assert decide(POLICY, load(lag=0.8), ADMIT) == ADMIT  # not refusing: the upper bound


def test_switched_off_everything_is_taken() -> None:
    off = AdmissionPolicy(enabled=False, max_saga_lag_s=0.1)
    assert decide(off, load(lag=100, outbox=100), REFUSED_LAG) == ADMIT


@pytest.mark.parametrize(
    "bad",
    [
        {"max_saga_lag_s": 0},
        {"max_outbox_age_s": -1},
        {"retry_after_s": 0},
        {"resume_ratio": 0},
        {"resume_ratio": 1.5},
    ],
)
def test_a_policy_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="must be"):
        AdmissionPolicy(**bad)  # type: ignore[arg-type]


def test_the_refusal_is_a_503_with_its_own_code() -> None:
    error = OrdersOverloadedError(retry_after=2)
    assert status_for(error) == 503
    assert error.code == "orders.overloaded"
    assert error.retry_after == 2


# -- the measurement -----------------------------------------------------------------------------


class FakeProbe:
    def __init__(self, *loads: SagaLoad) -> None:
        self.loads, self.calls = list(loads), 0
        self.failing = False

    async def __call__(self) -> SagaLoad:
        self.calls += 1
        if self.failing:
            raise ConnectionRefusedError("database down")
        return self.loads[min(self.calls, len(self.loads)) - 1]


def admission(probe: FakeProbe, registry: CollectorRegistry, **kwargs: float) -> SagaAdmission:
    return SagaAdmission(probe, POLICY, interval_s=0.01, metrics=Metrics(registry), **kwargs)


async def test_the_first_order_measures_then_a_task_keeps_measuring() -> None:
    registry = CollectorRegistry()
    probe = FakeProbe(load(lag=5.0))
    gate = admission(probe, registry)
    try:
        with pytest.raises(OrdersOverloadedError) as refused:
            await gate.check()  # measured before deciding: never admitted blind
        assert refused.value.retry_after == POLICY.retry_after_s
        assert probe.calls == 1
        await asyncio.sleep(0.05)
        assert probe.calls > 2  # the background task, not the requests
        calls = probe.calls
        for _ in range(10):
            with pytest.raises(OrdersOverloadedError):
                await gate.check()
        assert probe.calls - calls <= 1  # no query per request
        assert registry.get_sample_value("orders_shed_total", {"reason": "saga_lag"}) == 11
        assert (
            registry.get_sample_value("orders_saga_backlog_age_seconds", {"signal": "saga_lag"})
            == 5.0
        )
        assert registry.get_sample_value("orders_admission_open") == 0
    finally:
        await gate.close()


async def test_it_resumes_when_the_backlog_drains() -> None:
    registry = CollectorRegistry()
    probe = FakeProbe(load(lag=5.0), load(lag=0.7), load(lag=0.2))
    gate = admission(probe, registry)
    try:
        assert await gate.refresh() == REFUSED_LAG
        assert await gate.refresh() == REFUSED_LAG  # 0.7 s: above the lower bound
        assert await gate.refresh() == ADMIT
        await gate.check()
        assert registry.get_sample_value("orders_admission_open") == 1
    finally:
        await gate.close()


async def test_an_unmeasurable_saga_admits_once_the_decision_is_stale() -> None:
    probe = FakeProbe(load(lag=5.0))
    gate = admission(probe, CollectorRegistry(), stale_after_s=0.05)
    try:
        assert await gate.refresh() == REFUSED_LAG
        probe.failing = True
        await asyncio.sleep(0.06)
        await gate.check()  # the database's own errors answer the order now
    finally:
        await gate.close()


async def test_an_idle_api_stops_measuring() -> None:
    probe = FakeProbe(load())
    gate = admission(probe, CollectorRegistry(), idle_after_s=0.03)
    try:
        await gate.check()
        await asyncio.sleep(0.1)
        calls = probe.calls
        await asyncio.sleep(0.05)
        assert probe.calls == calls  # stopped
        await gate.check()
        assert probe.calls == calls + 1  # the next order measures again
    finally:
        await gate.close()


async def test_the_backpressure_flag_exempts_one_org_at_run_time() -> None:
    flags = StaticFlags()
    probe = FakeProbe(load(lag=5.0))
    gate = SagaAdmission(
        probe, POLICY, interval_s=0.01, metrics=Metrics(CollectorRegistry()), flags=flags
    )
    exempt, other = uuid.uuid4(), uuid.uuid4()
    try:
        with pytest.raises(OrdersOverloadedError):
            await gate.check(exempt)
        flags.set(BACKPRESSURE_FLAG, False, org_id=exempt)  # flipped while it runs
        await gate.check(exempt)  # taken, whatever the backlog
        with pytest.raises(OrdersOverloadedError):
            await gate.check(other)  # every other org is still refused
        flags.set(BACKPRESSURE_FLAG, True, org_id=exempt)
        with pytest.raises(OrdersOverloadedError):
            await gate.check(exempt)
    finally:
        await gate.close()


# -- PlaceOrder ----------------------------------------------------------------------------------


class Refuse:
    def __init__(self) -> None:
        self.asked: list[uuid.UUID | None] = []

    async def check(self, org_id: uuid.UUID | None = None) -> None:
        self.asked.append(org_id)
        raise OrdersOverloadedError(retry_after=1)


async def test_a_refused_order_stores_nothing_and_leaves_its_key_free(
    store: Store, clock: FrozenClock, org_id: uuid.UUID
) -> None:
    gate = Refuse()
    refusing = bootstrap(
        uow=lambda: FakeUnitOfWork(store, clock), clock=clock, deadlines=DEADLINES, admission=gate
    )
    command = PlaceOrderInput(org_id, "EUR", [OrderLine("A", 1)], idempotency_key="k-1")
    caller = principal_of(org_id)

    with pytest.raises(OrdersOverloadedError):
        await refusing.place_order(caller, command)

    assert gate.asked == [org_id]  # asked for the org placing it (its flags may exempt it)
    assert store.orders == {}
    assert store.keys == {}
    assert store.commits == 0
    taking = bootstrap(uow=lambda: FakeUnitOfWork(store, clock), clock=clock, deadlines=DEADLINES)
    placed = await taking.place_order(caller, command)
    assert not placed.replayed
    assert len(store.orders) == 1
