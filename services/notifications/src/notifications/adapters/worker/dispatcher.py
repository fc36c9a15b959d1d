"""The delivery worker: claim due deliveries into free slots, attempt them concurrently.

The loop is the chassis' :class:`~shared.queue_worker.QueueWorker`.

One slow or dead endpoint never holds the others up: each attempt occupies one of
``concurrency`` slots (an endpoint at most ``per_endpoint`` of them), a slot is refilled as soon
as its attempt ends, and an endpoint whose circuit is open is answered without a call.

The loop sleeps until the earliest open delivery is due, at most ``poll_interval_s``, and
wakes early when the consumer rings (LISTEN/NOTIFY) or an attempt ends. Claims and records are
short transactions of their own (see the use cases); no transaction spans an HTTP call.
"""

from __future__ import annotations

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
from notifications.domain.values import DeliveryStatus
from shared.clock import Clock
from shared.observability import extract_context
from shared.observability.metrics import Metrics, default_metrics
from shared.outbox import PgListener, RelayWakeup
from shared.queue_worker import Batch, QueueWorker

__all__ = ["DeliveryWorker", "WorkerConfig"]

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """Tuning of one worker process.

    Attributes:
        concurrency: attempts in flight at once.
        per_endpoint: attempts in flight at once to one endpoint.
        poll_interval_s: the longest sleep between two looks at the table.
        min_wait_s: the shortest sleep when something is due but could not be claimed.
        stop_timeout_s: how long a stopping worker waits for attempts in flight.
        error_backoff_s: the pause after a failed claim (database down).
    """

    concurrency: int = 16
    per_endpoint: int = 4
    poll_interval_s: float = 5.0
    min_wait_s: float = 0.05
    stop_timeout_s: float = 15.0
    error_backoff_s: float = 1.0


class DeliveryWorker(QueueWorker[ClaimedDelivery]):
    """Runs deliveries until :meth:`stop` (``serve_with_worker`` wires it to SIGTERM)."""

    def __init__(
        self,
        *,
        claim: ClaimDueDeliveries,
        attempt: AttemptDelivery,
        listener: PgListener | None = None,
        config: WorkerConfig | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        wakeup: RelayWakeup | None = None,
    ) -> None:
        self.config = config = config or WorkerConfig()
        self._claim, self._attempt = claim, attempt
        self._metrics = metrics or default_metrics()
        self._endpoints: Counter[uuid.UUID] = Counter()  # attempts in flight per endpoint
        super().__init__(
            name="notifications.worker",
            wakeup=wakeup,
            concurrency=config.concurrency,
            poll_interval_s=config.poll_interval_s,
            min_wait_s=config.min_wait_s,
            error_backoff_s=config.error_backoff_s,
            stop_timeout_s=config.stop_timeout_s,
            listener=listener,
            clock=clock,
        )

    async def claim(self, free: int) -> Batch[ClaimedDelivery]:
        """Claim up to ``free`` due deliveries, at most ``per_endpoint`` per endpoint in flight.

        Something claimed: look again at once while slots are free. Nothing: sleep until the
        earliest claimable delivery is due.
        """
        per_endpoint = self.config.per_endpoint
        claimed = await self._claim(
            limit=free, per_endpoint=per_endpoint, in_flight=self._endpoints
        )
        for delivery in claimed:
            self._endpoints[delivery.endpoint_id] += 1
        if claimed:
            return Batch(claimed, more=True)
        due = await self._claim.next_due_at(per_endpoint=per_endpoint, in_flight=self._endpoints)
        return Batch((), next_due_at=due)

    def task_name(self, item: ClaimedDelivery) -> str:
        """``webhook-attempt``."""
        return "webhook-attempt"

    def released(self, item: ClaimedDelivery) -> None:
        """Free the endpoint's slot."""
        self._endpoints[item.endpoint_id] -= 1
        if self._endpoints[item.endpoint_id] <= 0:
            del self._endpoints[item.endpoint_id]

    async def handle(self, item: ClaimedDelivery) -> None:
        """Attempt one delivery and record its outcome."""
        await self._run_attempt(item)

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
