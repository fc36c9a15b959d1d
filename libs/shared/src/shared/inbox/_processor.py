"""The idempotent consumer's pipeline for one record, independent of how records are fetched.

Main stage (the source topic): decode, claim the event id and run the handler in one database
transaction, commit. A transient failure parks the record's key and moves the record to the
retry lane; a permanent one dead-letters it at once. Either way the main partition moves on.
Types mapped to :func:`~shared.inbox.ignore_event` are acknowledged without a transaction.

Retry stage (``<topic>.retry.<group>``): wait until the record is due, then try again in place
with backoff until it succeeds or the attempts run out (dead letter). Finishing a record
releases its key, so the key's later messages, which followed it into the lane, are applied
after it and in order.

A poll's records of one partition are applied as a batch by :mod:`shared.inbox._batch`, which
falls back to this pipeline for whatever leaves the common path.

Errors that are not the message's fault (the database or Kafka is down while parking or
dead-lettering) propagate: the caller must not acknowledge, and retries the record in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import structlog
from opentelemetry import trace
from opentelemetry.context import Context

from shared.clock import Clock
from shared.errors import AppError
from shared.inbox._batch import apply_main_batch
from shared.inbox._event import (
    Handler,
    InboxEvent,
    UnknownEventTypeError,
    build_event,
    content_type,
    decode_payload,
    ignore_event,
    read_envelope,
)
from shared.inbox._headers import CE_ID, CE_TYPE, Origin, RetryState, header_text, parse_retry_state
from shared.inbox._policy import Failure, RedeliveryPolicy, classify_failure
from shared.inbox._publisher import RecordPublisher
from shared.inbox._routing import FailureRouter, Outcome, Record
from shared.inbox._store import Claim, ClaimRequest, claim, release_key
from shared.inbox._tx import Transaction
from shared.observability.metrics import Metrics
from shared.observability.tracing import extract_context
from shared.resilience.timeouts import with_timeout

log = structlog.get_logger(__name__)
_tracer = trace.get_tracer("shared.inbox")


class BatchInterruptedError(Exception):
    """Finishing a batch failed for a reason that is not the message's fault.

    The first ``done`` records are finished (applied, dead-lettered or moved to the lane); the
    caller acknowledges those and rewinds to the next one. ``__cause__`` is the error.
    """

    def __init__(self, done: int) -> None:
        super().__init__(f"batch interrupted after {done} records")
        self.done = done


class MessageProcessor:
    """Applies records of one source topic for one consumer group, exactly once per event id.

    Built by :class:`shared.inbox.IdempotentConsumer`; usable on its own with any record source
    that acknowledges an offset only after :meth:`process_main`/:meth:`process_retry` return.
    """

    def __init__(
        self,
        *,
        topic: str,
        group: str,
        handlers: Mapping[str, Handler[Any]],
        transaction: Transaction,
        publisher: RecordPublisher,
        policy: RedeliveryPolicy,
        clock: Clock,
        metrics: Metrics,
        handler_timeout_s: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.topic = topic
        self.group = group
        self._router = FailureRouter(
            topic=topic,
            group=group,
            transaction=transaction,
            publisher=publisher,
            metrics=metrics,
            clock=clock,
        )
        self.retry_topic = self._router.retry_topic
        self.dead_letter_topic = self._router.dead_letter_topic
        self.policy = policy
        self.handlers = dict(handlers)
        self.transaction = transaction
        self._publisher = publisher
        self.clock = clock
        self.metrics = metrics
        self.handler_timeout_s = handler_timeout_s
        self._sleep = sleep
        self._rand = rand
        # Off only in the benchmark that prices the inbox against a consumer without one.
        self.dedupe = True

    async def process_main(self, record: Record) -> Outcome:
        """Handle a record of the source topic; see the module docstring."""
        return await self.observe(record, self._main)

    async def process_retry(self, record: Record) -> Outcome:
        """Handle a record of the retry lane; may wait, in place, for its backoff."""
        return await self.observe(record, self._retry)

    async def process_main_batch(self, records: Sequence[Record]) -> None:
        """Handle records of one source partition, in offset order, in as few transactions as
        the records allow (:func:`shared.inbox._batch.apply_main_batch`).

        Raises:
            BatchInterruptedError: the database or Kafka failed; ``done`` records are finished.
        """
        done = 0
        try:
            while done < len(records):
                done += await apply_main_batch(self, records[done:])
        except Exception as exc:
            raise BatchInterruptedError(done) from exc

    async def process_retry_batch(self, records: Sequence[Record]) -> None:
        """Handle records of one retry-lane partition, one at a time, in offset order.

        Raises:
            BatchInterruptedError: the database or Kafka failed; ``done`` records are finished.
        """
        for done, record in enumerate(records):
            try:
                await self.process_retry(record)
            except Exception as exc:
                raise BatchInterruptedError(done) from exc

    async def observe(
        self, record: Record, stage: Callable[[Record], Awaitable[Outcome]]
    ) -> Outcome:
        started = time.perf_counter()
        with self.span(
            record, header_text(record.headers, CE_ID), header_text(record.headers, CE_TYPE)
        ) as span:
            outcome = await stage(record)
            span.set_attribute("ordo.inbox.outcome", outcome.value)
        self.observe_time(record.topic, outcome, time.perf_counter() - started)
        return outcome

    def observe_time(self, topic: str, outcome: Outcome, seconds: float) -> None:
        self.metrics.consumer_handle_duration_seconds.labels(
            topic=topic, group=self.group, outcome=outcome.value
        ).observe(seconds)

    @contextlib.contextmanager
    def span(
        self, record: Record, event_id: str | None, event_type: str | None
    ) -> Iterator[trace.Span]:
        """The consumer span of one record (continuing the producer's trace) and its log context."""
        attributes: dict[str, str | int] = {
            "messaging.system": "kafka",
            "messaging.operation.type": "process",
            "messaging.destination.name": record.topic,
            "messaging.destination.partition.id": str(record.partition),
            "messaging.kafka.offset": record.offset,
            "messaging.consumer.group.name": self.group,
            "messaging.message.id": event_id or "",
        }
        with (
            _tracer.start_as_current_span(
                f"{record.topic} process",
                context=_parent_context(record.headers),
                kind=trace.SpanKind.CONSUMER,
                attributes=attributes,
            ) as span,
            structlog.contextvars.bound_contextvars(
                event_id=event_id,
                event_type=event_type,
                topic=record.topic,
                consumer_group=self.group,
            ),
        ):
            yield span

    async def _main(self, record: Record) -> Outcome:
        origin = Origin(record.topic, record.partition, record.offset)
        try:
            envelope = read_envelope(record.headers)
            if self.handlers.get(envelope[1]) is ignore_event:
                # Nothing to apply, nothing to claim. Its key may have a record waiting in the
                # retry lane: this one changes nothing, so it need not wait behind it.
                return Outcome.IGNORED
            event = self.decode(record, origin, envelope, attempt=1)
        except AppError as exc:
            now = self.clock.now()
            failure = classify_failure(exc)
            return await self._router.dead_letter(
                record, origin, failure, attempts=1, first=now, last=now
            )
        try:
            result = await self._apply(record, event, stage_is_main=True)
        except Exception as exc:
            return await self.route_failure(record, event, exc)
        if result is Claim.PARKED:
            # Its key already has a message in the lane: follow it there to keep key order.
            return await self._router.to_retry_lane(record, event.id, RetryState(origin))
        return Outcome.APPLIED if result is Claim.CLAIMED else Outcome.DUPLICATE

    async def route_failure(self, record: Record, event: InboxEvent, exc: Exception) -> Outcome:
        """Send a source record whose first attempt raised ``exc`` to the lane or the dead letters.

        Raises:
            Exception: parking or publishing failed (not the message's fault).
        """
        failure = self._failed(exc, attempts=1)
        now = self.clock.now()
        origin = Origin(record.topic, record.partition, record.offset)
        if failure.transient and self.policy.max_attempts > 1:
            delay = timedelta(seconds=self.policy.delay(1, self._rand))
            state = RetryState(origin, 1, now, now, now + delay, failure.code)
            return await self._router.to_retry_lane(record, event.id, state)
        return await self._router.dead_letter(
            record, origin, failure, attempts=1, first=now, last=now
        )

    async def _retry(self, record: Record) -> Outcome:
        state = parse_retry_state(
            record.headers, Origin(record.topic, record.partition, record.offset)
        )
        await self._wait_until(state.not_before)
        attempts, first = state.attempts, state.first_failure_at
        while True:
            try:
                envelope = read_envelope(record.headers)
                event = self.decode(record, state.origin, envelope, attempt=attempts + 1)
                result = await self._apply(record, event, stage_is_main=False)
            except Exception as exc:
                attempts += 1
                failure = self._failed(exc, attempts=attempts)
                now = self.clock.now()
                first = first or now
                if not failure.transient or attempts >= self.policy.max_attempts:
                    outcome = await self._router.dead_letter(
                        record, state.origin, failure, attempts=attempts, first=first, last=now
                    )
                    await self._router.release(record)
                    return outcome
                await self._sleep(self.policy.delay(attempts, self._rand))
            else:
                return Outcome.APPLIED if result is Claim.CLAIMED else Outcome.DUPLICATE

    def decode(
        self, record: Record, origin: Origin, envelope: tuple[str, str], *, attempt: int
    ) -> InboxEvent:
        """Build the event of a record whose envelope was read.

        Raises:
            AppError: no handler for its type, or an undecodable payload (permanent).
        """
        event_id, event_type = envelope
        if event_type not in self.handlers:
            raise UnknownEventTypeError(f"No handler for event type {event_type[:100]!r}.")
        data = decode_payload(record.value, content_type(record.headers))
        return build_event(
            event_id=event_id,
            event_type=event_type,
            data=data,
            key=record.key,
            headers=record.headers,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            attempt=attempt,
        )

    async def _apply(self, record: Record, event: InboxEvent, *, stage_is_main: bool) -> Claim:
        request = ClaimRequest(
            group=self.group,
            event_id=event.id,
            event_type=event.type,
            topic=event.topic,
            partition=event.partition,
            offset=event.offset,
            processed_at=self.clock.now(),
        )
        async with self.transaction() as (session, context):
            result = Claim.CLAIMED
            if self.dedupe:
                result = await claim(session, request, key=record.key if stage_is_main else None)
            if result is Claim.CLAIMED:
                await with_timeout(
                    self.handlers[event.type](event, context),
                    self.handler_timeout_s,
                    operation="inbox.handler",
                )
            if not stage_is_main and record.key is not None:
                # Same transaction as the handler's writes: the key is free exactly when the
                # message it waited for is applied.
                await release_key(
                    session, group=self.group, topic=self.topic, key=record.key, event_id=event.id
                )
        return result

    async def _wait_until(self, due: datetime | None) -> None:
        if due is None:
            return
        wait_s = (due - self.clock.now()).total_seconds()
        if wait_s > 0:
            # Capped: a skewed clock or a forged header must not stall the lane for long.
            await self._sleep(min(wait_s, self.policy.max_delay_s))

    def _failed(self, exc: BaseException, *, attempts: int) -> Failure:
        failure = classify_failure(exc)
        fields: dict[str, Any] = {
            "code": failure.code,
            "transient": failure.transient,
            "attempt": attempts,
            "max_attempts": self.policy.max_attempts,
            "error_class": failure.error_class,
        }
        if isinstance(exc, AppError):
            log.warning("handling failed", **fields)
        else:
            # Not an expected error: the traceback is what someone needs to fix it.
            log.error("handling failed", exc_info=exc, **fields)
        return failure


def _parent_context(headers: Sequence[tuple[str, bytes]]) -> Context | None:
    """Continue the producer's trace, unless a FastStream telemetry middleware already did."""
    if trace.get_current_span().get_span_context().is_valid:
        return None
    return extract_context(headers)
