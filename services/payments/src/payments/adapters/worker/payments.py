"""The payment worker: claims due payments and runs them, many at once, outside transactions.

One loop claims up to its free capacity (a short transaction; ``SKIP LOCKED`` and leases keep
workers apart), then each claimed payment runs as a task: the provider call with no transaction
open, then the outcome's transaction (retried on transient database errors: it is idempotent).
The loop sleeps until whichever comes first: a ring of the wake-up (a NOTIFY from the consumer,
a finished task), the next payment falling due, or the polling interval (the fallback when a
notification is lost). A payment whose worker dies is claimed again when its lease ends.

Beside the loop, every ``measure_interval_s`` the worker measures the money that may still be
held for cancelled orders (payments in ``voiding``: one indexed statement, never per request)
into ``payments_held_for_cancelled_orders`` and
``payments_held_for_cancelled_orders_oldest_age_seconds``; infra/prometheus/rules/payments.yml
alerts on them.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import weakref
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Protocol

import structlog
from opentelemetry import trace
from prometheus_client import CollectorRegistry, Gauge

from payments.application.facade import WorkerUseCases
from payments.domain.payment import Claim, Payment
from payments.domain.values import PaymentStatus
from shared.clock import Clock, SystemClock
from shared.observability import extract_context
from shared.observability.metrics import Metrics, default_metrics
from shared.outbox import RelayWakeup
from shared.periodic import PeriodicJob
from shared.resilience import RetryPolicy, run_with_retry

__all__ = ["HELD_JOB", "Listener", "PaymentWorker"]

HELD_JOB = "payments.measure_held_authorizations"

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

# Outcome labels of ``jobs_total{job=...}`` by the status a run left the payment in.
_OUTCOMES = {
    PaymentStatus.AUTHORIZED: "succeeded",
    PaymentStatus.FAILED: "failed",
    PaymentStatus.PENDING: "deferred",
    PaymentStatus.VOIDING: "deferred",
    PaymentStatus.VOIDED: "succeeded",
    PaymentStatus.CANCELLED: "cancelled",
}
# Waiting less than this for a due payment that could not be claimed (another worker is
# claiming it right now) would only spin.
_MIN_WAIT_S = 0.01
_lock = threading.Lock()
_gauges: weakref.WeakKeyDictionary[CollectorRegistry, tuple[Gauge, Gauge]] = (
    weakref.WeakKeyDictionary()
)


def _held_gauges(registry: CollectorRegistry) -> tuple[Gauge, Gauge]:
    # Registered once per registry: tests build many workers in one process.
    with _lock:
        found = _gauges.get(registry)
        if found is None:
            found = (
                Gauge(
                    "payments_held_for_cancelled_orders",
                    "Payments of cancelled orders that may still hold an authorisation at the "
                    "provider (status voiding), as the worker last measured.",
                    registry=registry,
                ),
                Gauge(
                    "payments_held_for_cancelled_orders_oldest_age_seconds",
                    "How long the oldest of them has been voiding (0 when none).",
                    registry=registry,
                ),
            )
            _gauges[registry] = found
        return found


class Listener(Protocol):
    """Rings the worker's wake-up when another process made work due (LISTEN/NOTIFY)."""

    listening: asyncio.Event

    async def run(self, stop: asyncio.Event) -> None:
        """Listen until ``stop`` is set."""
        ...


class PaymentWorker:
    """Runs due payments until :meth:`stop`.

    Args:
        use_cases: payments' use cases (claim, authorise, void).
        wakeup: rung by the LISTEN connection and by finished tasks.
        concurrency: payments in flight at most (each holds one provider call, no connection).
        poll_interval_s: the longest sleep between two looks at the table.
        listener: the LISTEN loop to run beside (the chassis' ``PgListener``), if any.
        record_retry: how the outcome's transaction is retried on transient errors.
        on_close: releases what the worker used (client, engine) once it has stopped.
        measure_interval_s: the pause between two measurements of what may still be held for
            cancelled orders (None: not measured).
    """

    def __init__(
        self,
        use_cases: WorkerUseCases,
        *,
        wakeup: RelayWakeup | None = None,
        concurrency: int = 64,
        poll_interval_s: float = 1.0,
        listener: Listener | None = None,
        record_retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        on_close: Callable[[], Awaitable[None]] | None = None,
        measure_interval_s: float | None = 15.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self.wakeup = wakeup or RelayWakeup()
        self._uc = use_cases
        self._concurrency = concurrency
        self._poll_interval_s = poll_interval_s
        self.listener = listener
        self._record_retry = record_retry or RetryPolicy(attempts=5, max_delay_s=1.0)
        self._clock = clock or SystemClock()
        self._metrics = metrics or default_metrics()
        self._on_close = on_close
        self._stopping = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self.runs = 0
        self._held, self._held_age = _held_gauges(self._metrics.registry)
        self._measurer = (
            PeriodicJob(
                HELD_JOB, self.measure_held, interval_s=measure_interval_s, metrics=self._metrics
            )
            if measure_interval_s is not None
            else None
        )

    async def measure_held(self) -> int:
        """Measure the payments of cancelled orders still voiding into the gauges."""
        held = await self._uc.measure_held_authorizations()
        self._held.set(held.count)
        self._held_age.set(held.oldest_age_s)
        return held.count

    def stop(self) -> None:
        """Finish the payments in flight, then return from :meth:`run`."""
        self._stopping.set()
        self.wakeup.ring()

    async def run(self) -> None:
        """Claim and run due payments until stopped."""
        listening = (
            asyncio.create_task(self.listener.run(self._stopping), name="payments-worker-listen")
            if self.listener is not None
            else None
        )
        if self._measurer is not None:
            self._measurer.start()
        log.info("payments.worker.started", concurrency=self._concurrency)
        try:
            while not self._stopping.is_set():
                seen = self.wakeup.generation
                wait_s = await self._round()
                await self.wakeup.wait(seen, wait_s)
        finally:
            if self._measurer is not None:
                await self._measurer.close()
            if self._in_flight:
                await asyncio.gather(*self._in_flight, return_exceptions=True)
            if listening is not None:
                self._stopping.set()
                with contextlib.suppress(Exception):
                    await listening
            if self._on_close is not None:
                await self._on_close()
            log.info("payments.worker.stopped", runs=self.runs)

    async def _round(self) -> float:
        """Claim what fits and start it; return how long to sleep before the next round."""
        free = self._concurrency - len(self._in_flight)
        if free <= 0:
            return self._poll_interval_s  # a finished task rings the wake-up
        try:
            work = await self._uc.claim_due_payments(free)
        except Exception as error:
            log.warning(
                "payments.worker.claim_failed",
                error_type=type(error).__name__,
                error=str(error)[:300],
            )
            return min(self._poll_interval_s, 1.0)
        for claim in work.claims:
            task = asyncio.create_task(self._run_one(claim), name=f"payment-{claim.payment_id}")
            self._in_flight.add(task)
            task.add_done_callback(self._finished)
        if len(work.claims) == free:
            return self._poll_interval_s  # maybe more is due: the next free slot rings
        return self._until(work.next_due_at)

    def _until(self, due: datetime | None) -> float:
        if due is None:
            return self._poll_interval_s
        seconds = (due - self._clock.now()).total_seconds()
        return min(self._poll_interval_s, max(seconds, _MIN_WAIT_S))

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self.wakeup.ring()

    async def _run_one(self, claim: Claim) -> None:
        structlog.contextvars.bind_contextvars(
            payment_id=str(claim.payment_id),
            order_id=str(claim.order_id),
            org_id=str(claim.org_id),
        )
        job = "payments.void" if claim.status is PaymentStatus.VOIDING else "payments.authorize"
        try:
            with _tracer.start_as_current_span(
                job,
                # A child of the span that last changed the payment (the saga's request, a
                # cancel, the previous attempt): the order's trace shows every attempt.
                context=extract_context(claim.trace_context) if claim.trace_context else None,
                attributes={
                    "payment.id": str(claim.payment_id),
                    "order.id": str(claim.order_id),
                    "org.id": str(claim.org_id),
                },
            ):
                payment = await self._run(claim)
        except Exception as error:
            # The claim's lease ends and the payment is tried again (same idempotency key).
            self._metrics.jobs_total.labels(job=job, outcome="errored").inc()
            log.error(
                "payments.worker.run_failed",
                job=job,
                error_type=type(error).__name__,
                error=str(error)[:300],
                retry_after_s=(claim.until - self._clock.now()).total_seconds(),
            )
            return
        self.runs += 1
        if payment is not None:
            outcome = _OUTCOMES[payment.status]
            self._metrics.jobs_total.labels(job=job, outcome=outcome).inc()
            log.debug("payments.worker.ran", job=job, status=payment.status.value)  # per payment

    async def _run(self, claim: Claim) -> Payment | None:
        if claim.status is PaymentStatus.PENDING:
            authorize = self._uc.authorize_payment
            result = await authorize.call(claim)
            return await run_with_retry(
                lambda: authorize.record(claim, result),
                policy=self._record_retry,
                operation="payments.record_authorization",
            )
        if claim.status is PaymentStatus.VOIDING:
            void = self._uc.void_payment
            voided = await void.call(claim)
            return await run_with_retry(
                lambda: void.record(claim, voided),
                policy=self._record_retry,
                operation="payments.record_void",
            )
        return None  # nothing to do in any other status (claimed by a stale schedule)
