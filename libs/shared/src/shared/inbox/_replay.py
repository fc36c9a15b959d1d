"""Re-drive chosen dead letters, once each, with an audit entry.

A replay reads the dead-letter topic from the start (or from ``since``) up to its end as of the
start of the run, so it always terminates. Each matching record is re-published with its key,
value and producer headers untouched, by default to the retry lane of the group that gave up
on it (only that group sees it again; other groups already applied the event).

Idempotence: before publishing, the record's DLQ coordinates are inserted in
``inbox_replayed_dead_letters`` in a transaction that commits only after Kafka acknowledged the
publish. A second run skips every record already marked; two concurrent runs serialise on the
row. A crash between the publish and the commit re-publishes that one record on the next run,
which the consumer's inbox absorbs.

A dead letter *by reference* (``ordo-dlq-by-reference: true``: its record could not be copied,
e.g. too large) is replayed from the original, read back at its coordinates; when retention
has removed the original, it is counted as unreadable.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.clock import Clock, SystemClock
from shared.errors import NotFoundError
from shared.ids import new_id
from shared.inbox._headers import (
    CE_ID,
    CE_TIME,
    CE_TYPE,
    Headers,
    Origin,
    header_text,
    is_reference,
    parse_dead_letter,
    parse_time,
)
from shared.inbox._publisher import RecordPublisher
from shared.inbox._replay_model import ReplayFilter, ReplayReport, ReplayTarget, replay_headers
from shared.inbox._schema import replay_audit, replayed_dead_letters
from shared.inbox._store import INBOX_RETENTION
from shared.inbox._topics import retry_topic, topic_partitions
from shared.settings import KafkaSettings

_IDLE_LIMIT_S = 30.0


async def replay_dead_letters(
    *,
    session_factory: async_sessionmaker[AsyncSession],
    kafka: KafkaSettings,
    dlq_topic: str,
    actor: str,
    reason: str,
    filters: ReplayFilter | None = None,
    target: ReplayTarget = "retry",
    dry_run: bool = False,
    allow_older_than_window: bool = False,
    window: timedelta = INBOX_RETENTION,
    clock: Clock | None = None,
) -> ReplayReport:
    """Re-publish the dead letters of ``dlq_topic`` selected by ``filters``; see the module doc.

    Args:
        session_factory: the consuming service's database (inbox and audit tables).
        kafka: the cluster.
        dlq_topic: a ``<topic>.dlq`` topic.
        actor, reason: who replays and why, for the audit entry (required, non-empty).
        target: ``retry`` (the lane of the group that gave up) or ``original`` (the source
            topic: every group sees it again, and deduplicates it).
        dry_run: count what would be replayed, publish nothing, mark nothing.
        allow_older_than_window: also replay events older than the inbox window, whose
            duplicates the inbox may no longer recognise.
        window: the inbox retention the consuming service runs with.

    Raises:
        NotFoundError: ``dlq_topic`` does not exist.
    """
    if not actor.strip() or not reason.strip():
        raise ValueError("a replay needs an actor and a reason for its audit entry")
    chosen = filters or ReplayFilter()
    now = (clock or SystemClock()).now
    report = ReplayReport(replay_id=new_id(), dlq_topic=dlq_topic, target=target, dry_run=dry_run)
    async with session_factory() as session, session.begin():
        await session.execute(
            replay_audit.insert().values(
                id=report.replay_id,
                actor=actor,
                reason=reason,
                dlq_topic=dlq_topic,
                target=target,
                filters=chosen.as_json(),
                dry_run=dry_run,
                status="running",
                started_at=now(),
            )
        )
    publisher = RecordPublisher(kafka)
    originals = _Originals(kafka)
    status, error = "failed", None
    try:
        async with contextlib.aclosing(_scan(kafka, dlq_topic, chosen.since)) as records:
            async for record in records:
                await _replay_one(
                    record,
                    report,
                    chosen,
                    publisher,
                    session_factory,
                    originals=originals,
                    target=target,
                    now=now,
                    oldest=None if allow_older_than_window else now() - window,
                )
        status = "finished"
    except BaseException as exc:
        error = type(exc).__name__
        raise
    finally:
        await publisher.stop()
        await originals.close()
        async with session_factory() as session, session.begin():
            await session.execute(
                update(replay_audit)
                .where(replay_audit.c.id == report.replay_id)
                .values(
                    status=status,
                    error=error,
                    finished_at=now(),
                    scanned=report.scanned,
                    matched=report.matched,
                    replayed=report.replayed,
                    already_replayed=report.already_replayed,
                    too_old=report.too_old,
                )
            )
    return report


async def _replay_one(
    record: Any,
    report: ReplayReport,
    filters: ReplayFilter,
    publisher: RecordPublisher,
    session_factory: async_sessionmaker[AsyncSession],
    *,
    originals: _Originals,
    target: ReplayTarget,
    now: Callable[[], datetime],
    oldest: datetime | None,
) -> None:
    report.scanned += 1
    headers: Headers = record.headers
    letter = parse_dead_letter(headers)
    if letter is None:
        report.unreadable += 1
        return
    dead_lettered_at = datetime.fromtimestamp(record.timestamp / 1000, tz=UTC)
    if not filters.matches(letter, header_text(headers, CE_TYPE), dead_lettered_at):
        return
    report.matched += 1
    born = parse_time(header_text(headers, CE_TIME)) or letter.first_failure_at
    if oldest is not None and born < oldest:
        report.too_old += 1
        return
    key, value = record.key, record.value
    if is_reference(headers):
        original = await originals.read(letter.origin)
        if original is None:
            report.unreadable += 1  # past the source topic's retention: nothing to replay
            return
        key, value, headers = original.key, original.value, list(original.headers)
    if report.dry_run:
        return
    source = f"{record.topic}/{record.partition}/{record.offset}"
    destination = (
        retry_topic(letter.origin.topic, letter.group) if target == "retry" else letter.origin.topic
    )
    async with session_factory() as session, session.begin():
        marked = await session.execute(
            pg_insert(replayed_dead_letters)
            .values(
                dlq_topic=record.topic,
                dlq_partition=record.partition,
                dlq_offset=record.offset,
                replay_id=report.replay_id,
                event_id=header_text(headers, CE_ID),
                target_topic=destination,
                replayed_at=now(),
            )
            .on_conflict_do_nothing()
            .returning(replayed_dead_letters.c.dlq_offset)
        )
        if marked.first() is None:
            report.already_replayed += 1
            return
        # Published inside the transaction: the mark commits only once Kafka has the record.
        await publisher.send(
            destination,
            key=key,
            value=value,
            headers=replay_headers(
                headers, letter, replay_id=report.replay_id, source=source, target=target
            ),
        )
    report.replayed += 1


class _Originals:
    """Reads records back at their coordinates (for dead letters by reference)."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._consumer: AIOKafkaConsumer | None = None

    async def read(self, origin: Origin) -> Any | None:
        """Return the record at ``origin``, or None when it is no longer in the topic."""
        if self._consumer is None:
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._kafka.bootstrap_servers,
                client_id=f"{self._kafka.client_id}-replay-originals",
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=int(self._kafka.request_timeout_s * 1000),
            )
            await consumer.start()
            self._consumer = consumer
        tp = TopicPartition(origin.topic, origin.partition)
        self._consumer.assign([tp])
        first = (await self._consumer.beginning_offsets([tp]))[tp]
        end = (await self._consumer.end_offsets([tp]))[tp]
        if not first <= origin.offset < end:
            return None
        self._consumer.seek(tp, origin.offset)
        batch = await self._consumer.getmany(
            tp, timeout_ms=int(_IDLE_LIMIT_S * 1000), max_records=1
        )
        for record in batch.get(tp, []):
            if record.offset == origin.offset:
                return record
        return None

    async def close(self) -> None:
        """Stop the consumer, if one was started."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


async def _scan(
    kafka: KafkaSettings, topic: str, since: datetime | None
) -> AsyncGenerator[Any, None]:
    """Yield every record of ``topic`` from ``since`` (or the start) to its end as of now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        client_id=f"{kafka.client_id}-replay",
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=int(kafka.request_timeout_s * 1000),
    )
    await consumer.start()
    try:
        partitions = await topic_partitions(kafka.bootstrap_servers, topic)
        if not partitions:
            raise NotFoundError(f"Topic {topic!r} does not exist.")
        tps = [TopicPartition(topic, p) for p in partitions]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        start = await _start_offsets(consumer, tps, since, end)
        # Explicit seeks, not seek_to_beginning(): a lazy offset reset can race the fetcher
        # and report the end as the position, and the scan would then read nothing.
        for tp in tps:
            consumer.seek(tp, start[tp])
        remaining = {tp for tp in tps if start[tp] < end[tp]}
        while remaining:
            batch = await consumer.getmany(*remaining, timeout_ms=int(_IDLE_LIMIT_S * 1000))
            if not batch:
                raise TimeoutError(f"no records from {topic} within {_IDLE_LIMIT_S}s")
            for tp, records in batch.items():
                for record in records:
                    if record.offset < end[tp]:
                        yield record
            remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
    finally:
        await consumer.stop()


async def _start_offsets(
    consumer: Any, tps: list[TopicPartition], since: datetime | None, end: dict[Any, int]
) -> dict[Any, int]:
    if since is None:
        return dict(await consumer.beginning_offsets(tps))
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    return {tp: found[tp].offset if found.get(tp) else end[tp] for tp in tps}
