"""The delivery worker's loop: claim due deliveries into free slots, attempt them concurrently.

One slow or dead endpoint never holds the others up: each attempt occupies one of
``concurrency`` slots (an endpoint at most ``per_endpoint`` of them), a slot is refilled as soon
as its attempt ends, and an endpoint whose circuit is open is answered without a call.

The loop sleeps until the earliest open delivery is due, at most ``poll_interval_s``, and
wakes early when the consumer rings (LISTEN/NOTIFY) or an attempt ends. Claims and records are
short transactions of their own (see the use cases); no transaction spans an HTTP call.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import structlog
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from notifications.application.use_cases.attempt_delivery import AttemptDelivery
from notifications.application.use_cases.claim_due_deliveries import (
    ClaimDueDeliveries,
    ClaimedDelivery,
)
from notifications.application.use_cases.purge_expired_records import PurgeExpiredRecords
from notifications.domain.values import DeliveryStatus
from shared.clock import Clock, SystemClock
from shared.observability import extract_context
from shared.observability.metrics import Metrics, default_metrics
from shared.outbox import PgListener, RelayWakeup
from shared.periodic import PeriodicJob

__all__ = ["DeliveryWorker", "WorkerConfig"]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)

PURGE_JOB = "notifications.purge_expired_records"


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tuning of one worker process.

    Attributes:
        concurrency: attempts in flight at once.
        per_endpoint: attempts in flight at once to one endpoint.
        poll_interval_s: the longest sleep between two looks at the table.
        min_wait_s: the shortest sleep when something is due but could not be claimed.
        purge_interval_s: how often the retention purge runs (0: never).
        stop_timeout_s: how long a stopping worker waits for attempts in flight.
        error_backoff_s: the pause after a failed claim (database down).
    """

    concurrency: int = 16
    per_endpoint: int = 4
    poll_interval_s: float = 5.0
    min_wait_s: float = 0.05
    purge_interval_s: float = 3600.0
    stop_timeout_s: float = 15.0
    error_backoff_s: float = 1.0


class DeliveryWorker:
    """Runs deliveries until :meth:`stop` (``serve_with_worker`` wires it to SIGTERM)."""

    def __init__(
        self,
        *,
        claim: ClaimDueDeliveries,
        attempt: AttemptDelivery,
        purge: PurgeExpiredRecords | None = None,
        listener: PgListener | None = None,
        config: WorkerConfig | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        wakeup: RelayWakeup | None = None,
    ) -> None:
        self.config = config or WorkerConfig()
        self.wakeup = wakeup or RelayWakeup()
        self._claim, self._attempt, self._purge = claim, attempt, purge
        self._listener = listener
        self._clock = clock or SystemClock()
        self._metrics = metrics or default_metrics()
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._in_flight: Counter[uuid.UUID] = Counter()

    def stop(self) -> None:
        """Finish the attempts in flight and return from :meth:`run`."""
        self._stopping.set()
        self.wakeup.ring()

    @property
    def in_flight(self) -> int:
        """Attempts running now."""
        return len(self._tasks)

    async def run(self) -> None:
        """Deliver until stopped; then wait (bounded) for the attempts in flight."""
        helpers: list[asyncio.Task[None]] = []
        if self._listener is not None:
            helpers.append(asyncio.create_task(self._listener.run(self._stopping)))
        if self._purge is not None and self.config.purge_interval_s > 0:
            records = self._purge
            purge = PeriodicJob(
                PURGE_JOB,
                lambda: self._purge_once(records),
                interval_s=self.config.purge_interval_s,
                metrics=self._metrics,
            )
            helpers.append(asyncio.create_task(purge.run()))
        try:
            while not self._stopping.is_set():
                seen = self.wakeup.generation
                try:
                    claimed = await self.claim_round()
                    if self.in_flight >= self.config.concurrency:
                        wait = self.config.poll_interval_s  # a finishing attempt rings
                    elif claimed:
                        continue  # slots are free and more may be due: look again at once
                    else:
                        wait = await self._idle_wait()
                except Exception as error:
                    log.warning(
                        "notifications.worker.claim_failed",
                        error_type=type(error).__name__,
                        error=str(error)[:300],
                    )
                    wait = self.config.error_backoff_s
                await self.wakeup.wait(seen, wait)
        finally:
            await self._drain()
            for helper in helpers:
                helper.cancel()
            for helper in helpers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await helper

    async def claim_round(self) -> int:
        """Fill the free slots with due deliveries; return how many attempts started."""
        free = self.config.concurrency - self.in_flight
        if free <= 0:
            return 0
        claimed = await self._claim(
            limit=free, per_endpoint=self.config.per_endpoint, in_flight=self._in_flight
        )
        for delivery in claimed:
            self._start(delivery)
        return len(claimed)

    async def _idle_wait(self) -> float:
        """Seconds until the next claimable delivery is due (capped by the poll interval)."""
        due = await self._claim.next_due_at(
            per_endpoint=self.config.per_endpoint, in_flight=self._in_flight
        )
        if due is None:
            return self.config.poll_interval_s
        seconds = (due - self._clock.now()).total_seconds()
        return min(max(seconds, self.config.min_wait_s), self.config.poll_interval_s)

    def _start(self, delivery: ClaimedDelivery) -> None:
        self._in_flight[delivery.endpoint_id] += 1
        task = asyncio.create_task(self._run_attempt(delivery), name="webhook-attempt")
        self._tasks.add(task)

        def done(finished: asyncio.Task[None]) -> None:
            self._tasks.discard(finished)
            self._in_flight[delivery.endpoint_id] -= 1
            if self._in_flight[delivery.endpoint_id] <= 0:
                del self._in_flight[delivery.endpoint_id]
            self.wakeup.ring()

        task.add_done_callback(done)

    async def _run_attempt(self, delivery: ClaimedDelivery) -> None:
        # A child of the consumer span that scheduled the delivery: the event's trace shows
        # every attempt, however much later it runs.
        with _tracer.start_as_current_span(
            "webhook.deliver",
            context=extract_context(delivery.trace_context) if delivery.trace_context else None,
            kind=SpanKind.CLIENT,
            attributes={
                "webhook.delivery.id": str(delivery.delivery_id),
                "webhook.endpoint.id": str(delivery.endpoint_id),
                "webhook.attempt": delivery.attempt_number,
                "org.id": str(delivery.org_id),
            },
        ) as span:
            await self._attempt_and_report(delivery, span)

    async def _attempt_and_report(self, delivery: ClaimedDelivery, span: Span) -> None:
        started = time.perf_counter()
        try:
            outcome = await self._attempt(delivery)
        except Exception as error:
            # Not recorded: the lease runs out and the delivery is attempted again.
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            log.error(
                "notifications.worker.attempt_failed",
                delivery_id=str(delivery.delivery_id),
                error_type=type(error).__name__,
                error=str(error)[:300],
            )
            self._metrics.jobs_total.labels(job="webhook_attempt", outcome="error").inc()
            return
        attempt = outcome.attempt
        if attempt.response_status is not None:
            span.set_attribute("http.response.status_code", attempt.response_status)
        if not attempt.succeeded:
            reason = attempt.error.value if attempt.error else f"HTTP {attempt.response_status}"
            span.set_status(Status(StatusCode.ERROR, reason))
        self._metrics.jobs_total.labels(
            job="webhook_attempt", outcome="succeeded" if attempt.succeeded else "failed"
        ).inc()
        if outcome.status in (DeliveryStatus.SUCCEEDED, DeliveryStatus.FAILED):
            self._metrics.jobs_total.labels(job="webhook_delivery", outcome=outcome.status).inc()
        # One line per attempt: a delivered one is debug, a failed one says why at info.
        (log.debug if attempt.succeeded else log.info)(
            "notifications.worker.attempted",
            delivery_id=str(delivery.delivery_id),
            endpoint_id=str(delivery.endpoint_id),
            org_id=str(delivery.org_id),
            attempt=attempt.number,
            response_status=attempt.response_status,
            error=attempt.error,
            status=outcome.status,
            endpoint_disabled=outcome.endpoint_disabled,
            took_ms=int((time.perf_counter() - started) * 1000),
        )

    async def _drain(self) -> None:
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self.config.stop_timeout_s)
        for task in pending:  # their leases run out: the deliveries are attempted again
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)

    @staticmethod
    async def _purge_once(purge: PurgeExpiredRecords) -> int:
        """One retention purge (the purge job's run); returns the records it deleted."""
        report = await purge()
        if report.deliveries or report.endpoints or report.idempotency_keys:
            log.info(
                "notifications.worker.purged",
                deliveries=report.deliveries,
                endpoints=report.endpoints,
                idempotency_keys=report.idempotency_keys,
            )
        return report.deliveries + report.endpoints + report.idempotency_keys
