"""Moving a record aside: to the group's retry lane (parking its key) or to the dead letters."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import structlog

from shared.clock import Clock
from shared.inbox._headers import (
    CE_ID,
    DeadLetter,
    Origin,
    RetryState,
    dead_letter_headers,
    header_text,
    record_size,
    reference_headers,
    retry_headers,
)
from shared.inbox._policy import Failure
from shared.inbox._publisher import MAX_RECORD_BYTES, RecordPublisher, unproducible
from shared.inbox._store import park_key, release_key
from shared.inbox._topics import dead_letter_topic, retry_topic
from shared.inbox._tx import Transaction
from shared.observability.metrics import Metrics

log = structlog.get_logger(__name__)


class Record(Protocol):
    """The parts of a Kafka record the pipeline reads (aiokafka's ``ConsumerRecord`` fits)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


class Outcome(enum.Enum):
    """What became of a record; the value is the ``outcome`` label of the handling histogram."""

    APPLIED = "ok"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"
    PARKED = "parked"
    RETRY = "retry"
    DEAD_LETTER = "dead_letter"


class FailureRouter:
    """Sends records of one (topic, group) to its retry lane or its dead-letter topic."""

    def __init__(
        self,
        *,
        topic: str,
        group: str,
        transaction: Transaction,
        publisher: RecordPublisher,
        metrics: Metrics,
        clock: Clock,
    ) -> None:
        self.topic = topic
        self.group = group
        self.retry_topic = retry_topic(topic, group)
        self.dead_letter_topic = dead_letter_topic(topic)
        self._transaction = transaction
        self._publisher = publisher
        self._metrics = metrics
        self._clock = clock

    async def to_retry_lane(self, record: Record, event_id: str, state: RetryState) -> Outcome:
        """Park the record's key (if any), then publish the record to the retry lane.

        A record whose lane copy could never be produced (too large with the retry headers)
        cannot wait in the lane: it is dead-lettered (by reference) instead, and its key is not
        parked, so the key's later records do not wait for it. Returns the outcome.
        """
        headers = retry_headers(record.headers, state)
        if record_size(record.key, record.value, headers) > MAX_RECORD_BYTES:
            now = self._clock.now()
            return await self.dead_letter(
                record,
                state.origin,
                _unroutable("The record is too large for the retry lane."),
                attempts=state.attempts,
                first=state.first_failure_at or now,
                last=state.last_failure_at or now,
            )
        if record.key is not None:
            # Park before publishing: the lane can never finish the record before the key is
            # parked, so it cannot release the key too early and strand the parking row.
            async with self._transaction() as (session, _):
                await park_key(
                    session,
                    group=self.group,
                    topic=self.topic,
                    key=record.key,
                    event_id=event_id,
                    now=self._clock.now(),
                )
        await self._publisher.send(
            self.retry_topic, key=record.key, value=record.value, headers=headers
        )
        return Outcome.RETRY if state.attempts else Outcome.PARKED

    async def dead_letter(
        self,
        record: Record,
        origin: Origin,
        failure: Failure,
        *,
        attempts: int,
        first: datetime,
        last: datetime,
    ) -> Outcome:
        """Publish the record to ``<topic>.dlq`` with the failure in its headers."""
        letter = DeadLetter(
            origin=origin,
            group=self.group,
            error_code=failure.code,
            error_message=failure.message,
            error_class=failure.error_class,
            attempts=attempts,
            first_failure_at=first,
            last_failure_at=last,
            reason="exhausted" if failure.transient else "permanent",
        )
        by_reference = await self._publish_letter(record, letter)
        self._metrics.dead_letters_total.labels(topic=self.topic, code=failure.code).inc()
        log.error(
            "message dead-lettered",
            by_reference=by_reference,
            code=failure.code,
            attempts=attempts,
            reason=letter.reason,
            dead_letter_topic=self.dead_letter_topic,
            origin_partition=origin.partition,
            origin_offset=origin.offset,
        )
        return Outcome.DEAD_LETTER

    async def _publish_letter(self, record: Record, letter: DeadLetter) -> bool:
        """Publish the letter with a copy of the record, or by reference when no copy can be
        produced (too large, refused as corrupt, not serialisable); True if by reference."""
        headers = dead_letter_headers(record.headers, letter)
        if record_size(record.key, record.value, headers) <= MAX_RECORD_BYTES:
            try:
                await self._publisher.send(
                    self.dead_letter_topic, key=record.key, value=record.value, headers=headers
                )
            except Exception as exc:
                if not unproducible(exc):
                    raise  # the broker: not the record's fault, retried in place
            else:
                return False
        key = record.key if record.key is None or len(record.key) <= 1024 else None
        await self._publisher.send(
            self.dead_letter_topic,
            key=key,
            value=None,
            headers=reference_headers(record.key, record.value, record.headers, letter),
        )
        return True

    async def release(self, record: Record) -> None:
        """Unpark the record's key if it is the last record the lane holds for that key."""
        event_id = header_text(record.headers, CE_ID)
        if record.key is None or not event_id:
            return
        async with self._transaction() as (session, _):
            await release_key(
                session, group=self.group, topic=self.topic, key=record.key, event_id=event_id
            )


def _unroutable(message: str) -> Failure:
    return Failure(
        transient=False,
        code="message.unroutable",
        message=message,
        error_class="shared.inbox.UnroutableRecord",
    )
