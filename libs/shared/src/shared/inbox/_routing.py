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
    retry_headers,
)
from shared.inbox._policy import Failure
from shared.inbox._publisher import RecordPublisher
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

    async def to_retry_lane(self, record: Record, event_id: str, state: RetryState) -> None:
        """Park the record's key (if any), then publish the record to the retry lane."""
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
            self.retry_topic,
            key=record.key,
            value=record.value,
            headers=retry_headers(record.headers, state),
        )

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
        await self._publisher.send(
            self.dead_letter_topic,
            key=record.key,
            value=record.value,
            headers=dead_letter_headers(record.headers, letter),
        )
        self._metrics.dead_letters_total.labels(topic=self.topic, code=failure.code).inc()
        log.error(
            "message dead-lettered",
            code=failure.code,
            attempts=attempts,
            reason=letter.reason,
            dead_letter_topic=self.dead_letter_topic,
            origin_partition=origin.partition,
            origin_offset=origin.offset,
        )
        return Outcome.DEAD_LETTER

    async def release(self, record: Record) -> None:
        """Unpark the record's key if it is the last record the lane holds for that key."""
        event_id = header_text(record.headers, CE_ID)
        if record.key is None or not event_id:
            return
        async with self._transaction() as (session, _):
            await release_key(
                session, group=self.group, topic=self.topic, key=record.key, event_id=event_id
            )
