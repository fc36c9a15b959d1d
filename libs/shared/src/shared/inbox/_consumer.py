"""FastStream wiring: the subscribers of an idempotent consumer, with manual, post-commit acks."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

import structlog
from aiokafka import TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.schemas import Topic
from faststream.middlewares import AckPolicy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from shared.inbox._commits import OffsetCommitter
from shared.inbox._event import Handler
from shared.inbox._policy import RedeliveryPolicy
from shared.inbox._processor import MessageProcessor
from shared.inbox._publisher import RecordPublisher
from shared.inbox._routing import Outcome, Record
from shared.inbox._topics import retry_group
from shared.inbox._tx import UnitOfWork, session_transaction, unit_of_work_transaction
from shared.observability.metrics import Metrics, default_metrics
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

_MIN_POLL_INTERVAL_MS = 300_000


class _FlushOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    """Commits the processed offsets before partitions move to another member."""

    def __init__(self, commits: OffsetCommitter) -> None:
        self._commits = commits

    async def on_partitions_revoked(self, revoked: Any) -> None:
        """Commit what was processed while the partitions are still ours."""
        await self._commits.flush()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        """Nothing to do: the group's committed offsets are where to resume."""
        return


class IdempotentConsumer:
    """Consume ``topic`` as consumer group ``group``, applying each event exactly once.

    Registers two FastStream subscribers on ``broker`` (a ``KafkaBroker`` or ``KafkaRouter``):
    the source topic, and the group's retry lane ``<topic>.retry.<group>``. Both acknowledge
    manually (``AckPolicy.MANUAL``, auto-commit off): an offset is committed only after the
    database transaction that claimed the event and ran the handler has committed. Handlers are
    picked by CloudEvents type; each receives the :class:`InboxEvent` and that transaction:
    the ``AsyncSession`` (``session_factory``) or the unit of work (``unit_of_work``, e.g.
    ``lambda: SqlaUnitOfWork(sessions, outbox=outbox, mapper=to_message)``, whose events then
    reach the outbox in the same commit). See ``docs/adr/0002-idempotent-consumer.md``.

    Topics are not created here (FastStream's auto-creation is turned off for them): create the
    retry lane and ``<topic>.dlq`` with :func:`ensure_inbox_topics` or the infra topic list.

    Call :meth:`close` after the broker stopped (FastStream: ``after_shutdown=[consumer.close]``).

    Args:
        broker: where to register the subscribers, before the broker starts.
        topic: the source topic.
        group: the consumer group id; also the inbox's deduplication scope.
        handlers: ``{ce_type: handler}``; any other type is dead-lettered.
        kafka: the cluster, for the producer of retry and dead-letter records.
        session_factory: the service's session factory (its own database), or
        unit_of_work: a factory of fresh units of work over it; exactly one of the two.
        policy: attempts and backoff for transient failures.
        max_workers: partitions handled concurrently (one consumer per worker); records of one
            partition are always handled one at a time, in order.
        handler_timeout_s: the deadline of one handler call (a timeout is transient).
        auto_offset_reset: where a new group starts; ``earliest`` so nothing published before
            the first deployment is skipped.
    """

    def __init__(
        self,
        broker: KafkaBroker | KafkaRouter,
        *,
        topic: str,
        group: str,
        handlers: Mapping[str, Handler[Any]],
        kafka: KafkaSettings,
        session_factory: async_sessionmaker[AsyncSession] | None = None,
        unit_of_work: Callable[[], UnitOfWork] | None = None,
        policy: RedeliveryPolicy | None = None,
        clock: Clock | None = None,
        metrics: Metrics | None = None,
        max_workers: int = 1,
        handler_timeout_s: float = 30.0,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
    ) -> None:
        if not handlers:
            raise ValueError("an IdempotentConsumer needs at least one handler")
        if session_factory is not None and unit_of_work is None:
            transaction = session_transaction(session_factory)
        elif unit_of_work is not None and session_factory is None:
            transaction = unit_of_work_transaction(unit_of_work)
        else:
            raise ValueError("pass exactly one of session_factory and unit_of_work")
        self.policy = policy or RedeliveryPolicy()
        self.metrics = metrics or default_metrics()
        self.publisher = RecordPublisher(kafka)
        self.processor = MessageProcessor(
            topic=topic,
            group=group,
            handlers=handlers,
            transaction=transaction,
            publisher=self.publisher,
            policy=self.policy,
            clock=clock or SystemClock(),
            metrics=self.metrics,
            handler_timeout_s=handler_timeout_s,
        )
        self.topic, self.group = topic, group
        self.retry_topic = self.processor.retry_topic
        self.dead_letter_topic = self.processor.dead_letter_topic
        self._commits = OffsetCommitter()
        self._infra_failures = 0
        # The lane holds a record while it backs off in place; the group must not evict the
        # member meanwhile (aiokafka leaves the group when the handler outlasts this interval).
        longest_s = self.policy.worst_case_total_s() + self.policy.max_attempts * (
            handler_timeout_s + 5.0
        )
        poll_interval_ms = max(_MIN_POLL_INTERVAL_MS, int(longest_s * 1000 * 1.5))
        options: dict[str, Any] = {
            "ack_policy": AckPolicy.MANUAL,
            "auto_offset_reset": auto_offset_reset,
            "parser": _parse_keeping_raw_headers,
            "decoder": _message_as_body,
            "listener": _FlushOnRevoke(self._commits),
            "max_poll_interval_ms": poll_interval_ms,
        }
        if max_workers > 1:
            options["max_workers"] = max_workers

        # ``message`` is FastStream's KafkaMessage, passed as the body (see _message_as_body).
        async def on_source(message: Any) -> None:
            """Apply each event once (inbox); retry or dead-letter failures."""
            await self._consume(message, self.processor.process_main, group)

        async def on_retry(message: Any) -> None:
            """Retry events that failed transiently, in order per key, with backoff."""
            await self._consume(message, self.processor.process_retry, retry_group(group))

        # declare=False: FastStream would otherwise create missing topics with one partition.
        broker.subscriber(Topic(topic, declare=False), group_id=group, **options)(on_source)
        broker.subscriber(
            Topic(self.retry_topic, declare=False), group_id=retry_group(group), **options
        )(on_retry)

    async def start(self) -> None:
        """Connect the producer of retry and dead-letter records ahead of the first failure."""
        await self.publisher.start()

    async def flush(self) -> None:
        """Wait for the offset commits in flight (call before the broker stops, if you can)."""
        await self._commits.flush()

    async def close(self) -> None:
        """Flush offset commits and stop the producer."""
        await self._commits.flush()
        await self.publisher.stop()

    async def _consume(
        self,
        message: Any,
        process: Callable[[Record], Awaitable[Outcome]],
        group: str,
    ) -> None:
        record = message.raw_message
        try:
            await process(record)
        except Exception as exc:
            # Not the message's fault: the database or Kafka failed while parking or
            # dead-lettering it. Rewind to it so it comes next again, and back off in place:
            # nothing else on this partition could make progress either.
            self._infra_failures += 1
            delay = self.policy.delay(min(self._infra_failures, self.policy.max_attempts))
            log.error(
                "could not finish a message; retrying it in place",
                exc_info=exc,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                retry_in_s=round(delay, 3),
            )
            await message.nack()
            await asyncio.sleep(delay)
            return
        self._infra_failures = 0
        consumer = message.consumer
        self._commits.mark(consumer, record.topic, record.partition, record.offset + 1)
        self._record_lag(consumer, record, group)

    def _record_lag(self, consumer: Any, record: Record, group: str) -> None:
        highwater = getattr(consumer, "highwater", None)
        if highwater is None:
            return
        end = highwater(TopicPartition(record.topic, record.partition))
        if end is None:
            return
        self.metrics.consumer_lag.labels(
            topic=record.topic, partition=str(record.partition), group=group
        ).set(max(end - record.offset - 1, 0))


async def _parse_keeping_raw_headers(record: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """Parse with FastStream's parser, but never let a header stop a record from arriving.

    FastStream decodes every header value as UTF-8; one binary header would fail the record
    before any handler runs and, with manual acks, a later commit would silently skip it. The
    parser gets a header-less copy; the pipeline reads the untouched record.
    """
    stripped = dataclasses.replace(record, headers=[])
    consumer = getattr(record, "consumer", None)
    if consumer is not None:
        stripped.consumer = consumer
    message = await original(stripped)
    message.raw_message = record
    return message


async def _message_as_body(message: Any) -> Any:
    """Hand the handler FastStream's message itself, undecoded, as its body.

    The pipeline decodes (and dead-letters) payloads itself. And a handler parameter annotated
    ``KafkaMessage`` is resolved by a synchronous context lookup that FastStream runs in a
    worker thread, once per message: that hop was about a fifth of a saga consumer's CPU.
    """
    return message
