"""The real worker process (``build_worker``) on PostgreSQL against the REAL fake provider:
authorise, decline, retry, outage (breaker, deferrals, recovery), hangs, lost answers, cancels."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from payments.adapters.persistence.wakeup import worker_doorbell
from payments.adapters.provider.http import BREAKER_NAME
from payments.application.facade import PaymentsUseCases
from payments.application.use_cases.cancel_payment import CancelPaymentInput
from payments.application.use_cases.request_payment import RequestPaymentInput
from payments.bootstrap import WorkerSettings, build_use_cases
from payments.domain.values import Money
from shared.inbox.testing import wait_until
from shared.observability import configure_tracing
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings

from .conftest import (
    Provider,
    fast_settings,
    outbox_rows,
    outbox_types,
    payment_row,
    running_worker,
    wait_for_status,
)

pytestmark = pytest.mark.integration

AUTHORIZED = "ordo.payments.payment.authorized.v1"
FAILED = "ordo.payments.payment.failed.v1"
DEFERRED = "ordo.payments.payment.authorization_deferred.v1"
VOIDED = "ordo.payments.payment.voided.v1"


@pytest.fixture
async def saga(
    migrated: DatabaseSettings, sessions: async_sessionmaker[AsyncSession]
) -> AsyncIterator[PaymentsUseCases]:
    """The consumer's use cases, ringing the worker's doorbell (NOTIFY) after each commit."""
    bell = worker_doorbell(migrated, application_name="payments-tests-wake")
    yield build_use_cases(sessions, worker=bell)
    await bell.close()


def ask(org_id: uuid.UUID, order_id: uuid.UUID, amount: int = 4997) -> RequestPaymentInput:
    return RequestPaymentInput(org_id, order_id, Money(amount, "EUR"), uuid.uuid4())


async def test_a_requested_payment_is_authorised_once(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    async with running_worker(fast_settings(migrated, provider.url), metrics):
        payment = await saga.request_payment(ask(org_id, order))
        assert payment is not None
        row = await wait_for_status(engine, order, "authorized")
    [held] = await provider.authorizations(str(order))
    assert row["provider_reference"] == held["id"]
    assert held["amount_minor"] == 4997
    rows = await outbox_rows(engine, order)
    assert [kind for kind, _, _ in rows] == [AUTHORIZED]
    _, body, headers = rows[0]
    assert body["payment_id"] == str(payment.id)
    assert body["attempts"] == 1
    assert headers["ce_subject"] == str(order)
    jobs = metrics.registry.get_sample_value(
        "jobs_total", {"job": "payments.authorize", "outcome": "succeeded"}
    )
    assert jobs == 1


async def test_the_attempt_joins_the_trace_that_requested_the_payment(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    exporter = InMemorySpanExporter()
    configure_tracing("payments-tests", "0.0.0", None, exporter=exporter)
    order = uuid.uuid4()
    async with running_worker(fast_settings(migrated, provider.url), metrics):
        with trace.get_tracer(__name__).start_as_current_span("orders.events process") as saga_span:
            await saga.request_payment(ask(org_id, order))
        await wait_for_status(engine, order, "authorized")
    requested = saga_span.get_span_context()
    [attempt] = [
        span
        for span in exporter.get_finished_spans()
        if span.name == "payments.authorize"
        and span.attributes is not None
        and span.attributes.get("order.id") == str(order)
    ]
    assert attempt.context.trace_id == requested.trace_id
    assert attempt.parent is not None
    assert attempt.parent.span_id == requested.span_id
    row = await payment_row(engine, order)
    assert row is not None
    # The row now holds the trace of its last change: the attempt that recorded the result.
    assert row["trace_context"]["traceparent"].split("-")[1] == format(requested.trace_id, "032x")


async def test_a_decline_publishes_payment_failed(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    settings = fast_settings(migrated, provider.url, card_token="tok_decline")
    async with running_worker(settings, metrics):
        await saga.request_payment(ask(org_id, order))
        row = await wait_for_status(engine, order, "failed")
    assert (row["failure_reason"], row["provider_code"]) == ("declined", "card_declined")
    rows = await outbox_rows(engine, order)
    assert [kind for kind, _, _ in rows] == [FAILED]
    assert rows[0][1]["reason"] == "declined"


async def test_provider_errors_are_retried_then_deferred_then_authorised(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await provider.behave(error_rate=1.0)
    settings = fast_settings(migrated, provider.url, breaker_fail_max=100)
    async with running_worker(settings, metrics):
        await saga.request_payment(ask(org_id, order))

        async def deferred_twice() -> bool:
            return (await outbox_types(engine, order)).count(DEFERRED) >= 2

        await wait_until(deferred_twice, timeout_s=20, message="two deferrals")
        await provider.behave()
        row = await wait_for_status(engine, order, "authorized")
    kinds = await outbox_types(engine, order)
    assert kinds[-1] == AUTHORIZED
    assert set(kinds[:-1]) == {DEFERRED}
    errors = (await provider.stats())["outcomes"]["error_before"]
    assert errors >= 6  # three calls per run, two runs at least: retried in place, then later
    assert row["postponements"] == len(kinds) - 1
    deferrals = [body for kind, body, _ in await outbox_rows(engine, order) if kind == DEFERRED]
    assert all(d["reason"] == "provider_error" for d in deferrals)
    assert [d["attempts"] for d in deferrals[:2]] == [3, 6]
    assert len(await provider.authorizations(str(order))) == 1


async def test_an_outage_opens_the_breaker_defers_and_recovers(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    orders = [uuid.uuid4() for _ in range(4)]
    await provider.outage(60)
    async with running_worker(fast_settings(migrated, provider.url), metrics) as worker:
        for order in orders:
            await saga.request_payment(ask(org_id, order))

        async def circuit_open_deferrals() -> bool:
            reasons = [
                body["reason"]
                for order in orders
                for kind, body, _ in await outbox_rows(engine, order)
                if kind == DEFERRED
            ]
            return "circuit_open" in reasons

        await wait_until(circuit_open_deferrals, timeout_s=20, message="deferred: circuit open")
        opened = metrics.registry.get_sample_value(
            "breaker_transitions_total",
            {"name": BREAKER_NAME, "from_state": "closed", "to_state": "open"},
        )
        assert opened is not None
        assert opened >= 1
        for order in orders:
            row = await payment_row(engine, order)
            assert row is not None
            assert row["status"] == "pending"  # never failed while the provider is down
        await provider.end_outages()
        for order in orders:
            await wait_for_status(engine, order, "authorized")
        assert worker.runs >= len(orders)
    assert metrics.registry.get_sample_value("breaker_state", {"name": BREAKER_NAME}) == 0
    for order in orders:
        kinds = await outbox_types(engine, order)
        assert kinds[-1] == AUTHORIZED
        assert DEFERRED in kinds
        assert len(await provider.authorizations(str(order))) == 1


async def test_a_hanging_provider_times_out_and_the_payment_is_deferred(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await provider.outage(60, mode="hang")
    settings = fast_settings(migrated, provider.url, call_timeout_s=0.2, breaker_fail_max=10)
    async with running_worker(settings, metrics):
        await saga.request_payment(ask(org_id, order))

        async def timed_out() -> bool:
            return any(
                kind == DEFERRED and body["reason"] == "provider_timeout"
                for kind, body, _ in await outbox_rows(engine, order)
            )

        await wait_until(timed_out, timeout_s=20, message="deferred: provider timeout")
        await provider.end_outages()
        await wait_for_status(engine, order, "authorized", timeout_s=30)
    assert len(await provider.authorizations(str(order))) == 1


async def test_a_lost_answer_is_replayed_into_one_authorisation(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await provider.behave(error_after_commit_rate=1.0)
    settings = fast_settings(migrated, provider.url, breaker_fail_max=100)
    async with running_worker(settings, metrics):
        await saga.request_payment(ask(org_id, order))

        async def deferred() -> bool:
            return DEFERRED in await outbox_types(engine, order)

        await wait_until(deferred, timeout_s=20, message="deferred after lost answers")
        await provider.behave()
        await wait_for_status(engine, order, "authorized")
    held = await provider.authorizations(str(order))
    assert len(held) == 1
    stats = await provider.stats()
    assert stats["outcomes"]["authorized"] == 1
    assert stats["outcomes"]["replayed"] >= 1
    assert stats["outcomes"]["error_after_commit"] >= 1


async def test_cancel_of_an_authorised_payment_voids_it(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    async with running_worker(fast_settings(migrated, provider.url), metrics):
        await saga.request_payment(ask(org_id, order))
        await wait_for_status(engine, order, "authorized")
        cancel = uuid.uuid4()
        await saga.cancel_payment(CancelPaymentInput(org_id, order, cancel))
        row = await wait_for_status(engine, order, "voided")
    [held] = await provider.authorizations(str(order))
    assert held["status"] == "voided"
    rows = await outbox_rows(engine, order)
    assert [kind for kind, _, _ in rows] == [AUTHORIZED, VOIDED]
    assert rows[1][1]["causation_id"] == str(cancel)
    assert rows[1][1]["provider_reference"] == row["provider_reference"] == held["id"]


async def test_a_cancel_while_the_call_is_in_flight_voids_what_it_obtains(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order = uuid.uuid4()
    await provider.behave(latency_ms=600)
    settings = fast_settings(migrated, provider.url, call_timeout_s=2.0)
    async with running_worker(settings, metrics):
        await saga.request_payment(ask(org_id, order))

        async def claimed() -> bool:
            row = await payment_row(engine, order)
            return row is not None and row["claim_token"] is not None

        await wait_until(claimed, timeout_s=10, message="claimed")
        await saga.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
        voiding = await payment_row(engine, order)
        assert voiding is not None
        assert voiding["status"] == "voiding"
        await wait_for_status(engine, order, "voided")
    assert await outbox_types(engine, order) == [VOIDED]  # never announced as authorised
    [held] = await provider.authorizations(str(order))
    assert held["status"] == "voided"


async def test_a_cancel_before_the_request_leaves_nothing_to_pay(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    order, other = uuid.uuid4(), uuid.uuid4()
    async with running_worker(fast_settings(migrated, provider.url), metrics):
        await saga.cancel_payment(CancelPaymentInput(org_id, order, uuid.uuid4()))
        assert await saga.request_payment(ask(org_id, order)) is None
        await saga.request_payment(ask(org_id, other))  # a witness that the worker ran
        await wait_for_status(engine, other, "authorized")
        await asyncio.sleep(0.3)
    assert await payment_row(engine, order) is None
    assert await provider.authorizations(str(order)) == []
    assert await outbox_types(engine, order) == []


async def test_the_first_attempt_starts_within_milliseconds_of_the_request(
    saga: PaymentsUseCases,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    provider: Provider,
    metrics: Metrics,
    org_id: uuid.UUID,
) -> None:
    # Polling is made useless (60 s): the consumer's post-commit NOTIFY is what starts the call.
    settings = fast_settings(migrated, provider.url).model_copy(
        update={"worker": WorkerSettings(concurrency=16, poll_interval_s=60, lease_s=3)}
    )
    orders = [uuid.uuid4() for _ in range(20)]
    async with running_worker(settings, metrics):
        for order in orders:
            await saga.request_payment(ask(org_id, order))
            await asyncio.sleep(0.02)
        for order in orders:
            await wait_for_status(engine, order, "authorized", timeout_s=30)
    async with engine.connect() as conn:
        rows = await conn.execute(
            text(
                "SELECT extract(epoch FROM a.attempted_at - p.created_at) FROM payments p "
                "JOIN payment_attempts a ON a.payment_id = p.id AND a.number = 1 "
                "WHERE p.order_id = ANY(:orders)"
            ),
            {"orders": orders},
        )
        delays = sorted(float(row[0]) for row in rows)
    assert len(delays) == len(orders)
    # Not a speed target (the machine may be loaded): polling every 60 s would start some call
    # tens of seconds late, so every first attempt well inside the interval shows the NOTIFY
    # woke the worker. ~15 ms here on a quiet machine.
    assert delays[-1] < settings.worker.poll_interval_s / 4, delays
