"""The idempotent consumer's poll loops: a partition's records as one batch, acked after commit."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from shared.inbox._commits import OffsetCommitter
from shared.inbox._event import Handler
from shared.inbox._policy import RedeliveryPolicy
from shared.inbox._processor import BatchInterruptedError, MessageProcessor
from shared.inbox._publisher import RecordPublisher
from shared.inbox._routing import Record
from shared.inbox._topics import retry_group
from shared.inbox._tx import UnitOfWork, session_transaction, unit_of_work_transaction
from shared.observability.metrics import Metrics, default_metrics
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)

_MIN_POLL_INTERVAL_MS = 300_000
_POLL_TIMEOUT_MS = 1_000
"""How long an idle poll waits for records: also how long stopping may wait for it."""

Stage = Callable[[Sequence[Record]], Awaitable[None]]


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

    Runs two aiokafka consumers: the source topic (group ``group``) and the group's retry lane
    ``<topic>.retry.<group>`` (group ``<group>.retry``). Each poll's records are handled per
    partition, in offset order: on the source topic as one batch (one transaction, one inbox
    statement, one commit; see :meth:`MessageProcessor.process_main_batch`), in the lane one at
    a time. Auto-commit is off: a partition's offset is committed only after the database
    transactions of its records committed. Handlers are picked by CloudEvents type; each
    receives the :class:`InboxEvent` and the transaction: the ``AsyncSession``
    (``session_factory``) or the unit of work (``unit_of_work``, e.g.
    ``lambda: SqlaUnitOfWork(sessions, outbox=outbox, mapper=to_message)``, whose events then
    reach the outbox in the same commit). See ``docs/adr/0002-idempotent-consumer.md`` and
    ``docs/adr/0003-batched-consumers.md``.

    Topics are not created here: create the retry lane and ``<topic>.dlq`` with
    :func:`ensure_inbox_topics` or the infra topic list. Call :meth:`start`, then :meth:`stop`
    (it finishes the batch in progress and flushes the offset commits).

    Args:
        topic: the source topic.
        group: the consumer group id; also the inbox's deduplication scope.
        handlers: ``{ce_type: handler}``; any other type is dead-lettered.
        kafka: the cluster.
        session_factory: the service's session factory (its own database), or
        unit_of_work: a factory of fresh units of work over it; exactly one of the two.
        policy: attempts and backoff for transient failures.
        max_workers: partitions of one poll handled concurrently (each its own transaction);
            records of one partition are always handled in order.
        max_batch: the most records one poll returns (over all its partitions).
        handler_timeout_s: the deadline of one handler call (a timeout is transient).
        auto_offset_reset: where a new group starts; ``earliest`` so nothing published before
            the first deployment is skipped.
        commit_interval_s: the least time between two offset commits of a poll loop: records
            applied meanwhile are committed together (see :mod:`shared.inbox._commits`); a
            crash redelivers at most that long's records, which the inbox skips.
    """

    def __init__(
        self,
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
        max_batch: int = 500,
        handler_timeout_s: float = 30.0,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        commit_interval_s: float = 0.5,
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
        self._kafka = kafka
        self._auto_offset_reset = auto_offset_reset
        self._max_batch = max_batch
        self._workers = asyncio.Semaphore(max_workers)
        self._commits = OffsetCommitter(min_interval_s=commit_interval_s)
        self._infra_failures = 0
        self._stopping = False
        self._consumers: list[AIOKafkaConsumer] = []
        self._loops: list[asyncio.Task[None]] = []

    def _poll_interval_ms(self) -> int:
        # The lane holds a record while it backs off in place; the group must not evict the
        # member meanwhile (aiokafka leaves the group when a poll's handling outlasts this).
        longest_s = self.policy.worst_case_total_s() + self.policy.max_attempts * (
            self.processor.handler_timeout_s + 5.0
        )
        return max(_MIN_POLL_INTERVAL_MS, int(longest_s * 1000 * 1.5))

    async def start(self) -> None:
        """Connect the producer of retry and dead-letter records, then start both poll loops."""
        if self._loops:
            return
        self._stopping = False
        await self.publisher.start()
        stages: list[tuple[str, str, Stage]] = [
            (self.topic, self.group, self.processor.process_main_batch),
            (self.retry_topic, retry_group(self.group), self.processor.process_retry_batch),
        ]
        for topic, group, stage in stages:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._kafka.bootstrap_servers,
                client_id=self._kafka.client_id,
                group_id=group,
                enable_auto_commit=False,
                auto_offset_reset=self._auto_offset_reset,
                max_poll_interval_ms=self._poll_interval_ms(),
                # The broker answers a fetch as soon as a record arrives: a longer wait costs
                # no latency, only halves an idle consumer's empty fetches (default 500 ms).
                fetch_max_wait_ms=_POLL_TIMEOUT_MS,
                request_timeout_ms=max(40_000, int(self._kafka.request_timeout_s * 1000)),
            )
            await consumer.start()
            consumer.subscribe([topic], listener=_FlushOnRevoke(self._commits))
            self._consumers.append(consumer)
            self._loops.append(
                asyncio.create_task(self._run(consumer, stage, group), name=f"inbox-{group}")
            )

    async def stop(self, *, graceful_timeout_s: float = 15.0) -> None:
        """Finish the poll in progress, flush offset commits, stop the consumers and producer.

        A poll still in progress after ``graceful_timeout_s`` is cancelled: its transaction
        rolls back and its offsets stay uncommitted, so the records are delivered again.
        """
        self._stopping = True
        loops, self._loops = self._loops, []
        if loops:
            _, late = await asyncio.wait(loops, timeout=graceful_timeout_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
        await self._commits.flush()
        consumers, self._consumers = self._consumers, []
        for consumer in consumers:
            await consumer.stop()
        await self.publisher.stop()

    async def _run(self, consumer: AIOKafkaConsumer, stage: Stage, group: str) -> None:
        while not self._stopping:
            try:
                polled = await consumer.getmany(
                    timeout_ms=_POLL_TIMEOUT_MS, max_records=self._max_batch
                )
            except Exception as exc:
                # The consumer retries the broker itself; an error here is worth a line, and
                # a pause so a persistent one does not spin.
                log.warning("poll failed", error=repr(exc), group=group)
                await asyncio.sleep(1.0)
                continue
            if len(polled) == 1:
                ((tp, records),) = polled.items()
                await self._partition(consumer, tp, records, stage, group)
            elif polled:
                await asyncio.gather(
                    *(
                        self._partition(consumer, tp, records, stage, group)
                        for tp, records in polled.items()
                    )
                )

    async def _partition(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        records: Sequence[Any],
        stage: Stage,
        group: str,
    ) -> None:
        failure: BaseException | None = None
        async with self._workers:
            try:
                await stage(records)
                done = len(records)
            except BatchInterruptedError as exc:
                done = exc.done
                failure = exc.__cause__
        if done:
            last = records[done - 1]
            self._commits.mark(consumer, tp.topic, tp.partition, last.offset + 1)
            self._record_lag(consumer, tp, last.offset, group)
        if done == len(records):
            self._infra_failures = 0
            return
        # Not the message's fault: the database or Kafka failed while applying, parking or
        # dead-lettering it. Rewind to it so it comes next again, and back off in place:
        # nothing else on this partition could make progress either.
        self._infra_failures += 1
        delay = self.policy.delay(min(self._infra_failures, self.policy.max_attempts))
        record = records[done]
        log.error(
            "could not finish a message; retrying it in place",
            exc_info=failure,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            retry_in_s=round(delay, 3),
        )
        consumer.seek(tp, record.offset)
        await asyncio.sleep(delay)

    def _record_lag(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, offset: int, group: str
    ) -> None:
        end = consumer.highwater(tp)
        if end is None:
            return
        self.metrics.consumer_lag.labels(
            topic=tp.topic, partition=str(tp.partition), group=group
        ).set(max(end - offset - 1, 0))
