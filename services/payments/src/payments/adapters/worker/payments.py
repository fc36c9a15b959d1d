"""The payment worker: claims due payments and runs them, many at once, outside transactions.

The chassis' :class:`~shared.queue_worker.QueueWorker` is the loop (claim into free slots,
sleep until the wake-up rings, the next payment falls due or the polling interval passes).
Claims are a short transaction (``SKIP LOCKED`` and leases keep workers apart); each claimed
payment runs as a task: the provider call with no transaction open, then the outcome's
transaction (retried on transient database errors: it is idempotent). A payment whose worker
dies is claimed again when its lease ends.

Beside the loop, every ``measure_interval_s`` the worker measures the money that may still be
held for cancelled orders (payments in ``voiding``: one indexed statement, never per request)
into ``payments_held_for_cancelled_orders`` and
``payments_held_for_cancelled_orders_oldest_age_seconds``; infra/prometheus/rules/payments.yml
alerts on them.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Awaitable, Callable

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
from shared.queue_worker import Batch, Listener, QueueWorker
from shared.resilience import RetryPolicy, run_with_retry

__all__ = ["HELD_JOB", "PaymentWorker"]

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
# A failed claim (database down) is tried again after at most this long.
_CLAIM_BACKOFF_S = 1.0
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


class PaymentWorker(QueueWorker[Claim]):
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
        self._uc = use_cases
        self._record_retry = record_retry or RetryPolicy(attempts=5, max_delay_s=1.0)
        self._clock = clock or SystemClock()
        self._metrics = metrics or default_metrics()
        self.runs = 0
        self._held, self._held_age = _held_gauges(self._metrics.registry)
        measurer = (
            PeriodicJob(
                HELD_JOB, self.measure_held, interval_s=measure_interval_s, metrics=self._metrics
            )
            if measure_interval_s is not None
            else None
        )
        super().__init__(
            name="payments.worker",
            wakeup=wakeup,
            concurrency=concurrency,
            poll_interval_s=poll_interval_s,
            min_wait_s=_MIN_WAIT_S,
            error_backoff_s=min(poll_interval_s, _CLAIM_BACKOFF_S),
            stop_timeout_s=None,  # a payment in flight always records its outcome
            listener=listener,
            beside=(measurer,) if measurer is not None else (),
            on_close=on_close,
            clock=self._clock,
        )

    async def measure_held(self) -> int:
        """Measure the payments of cancelled orders still voiding into the gauges."""
        held = await self._uc.measure_held_authorizations()
        self._held.set(held.count)
        self._held_age.set(held.oldest_age_s)
        return held.count

    async def claim(self, free: int) -> Batch[Claim]:
        """Claim up to ``free`` due payments; when the next one falls due."""
        work = await self._uc.claim_due_payments(free)
        return Batch(work.claims, next_due_at=work.next_due_at)

    def task_name(self, item: Claim) -> str:
        """``payment-<id>``."""
        return f"payment-{item.payment_id}"

    async def handle(self, claim: Claim) -> None:
        """Authorise or void one claimed payment, then record the outcome."""
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
