"""A partition's records in one transaction: the idempotent consumer's common path, batched.

A poll returns records of a partition in offset order. When nothing goes wrong, they are applied
together: one statement claims every event id in the inbox (and skips keys parked in the retry
lane), the handlers run in offset order on one unit of work, and one commit writes the handlers'
writes, every outbox row and every claim. One transaction and one commit per poll instead of one
per record is the whole saving (``docs/adr/0003-batched-consumers.md``).

Leaving the common path never changes what happens to a record, only how many transactions it
takes:

- a record the per-record pipeline would dead-letter (no envelope, unknown type, undecodable
  payload) ends the batch before it; it then goes through :meth:`MessageProcessor.process_main`
  alone;
- a handler that raises rolls the batch back; the records before it are applied again as a
  batch (their handlers run a second time: handlers act only through the transaction), and the
  failing record is routed (retry lane or dead letter) with the error it raised, without a
  second call: one attempt, as on the per-record path;
- a record whose key is parked rolls the batch back; the records before it are applied as a
  batch, and it follows its key into the lane through the per-record path;
- a failed claim or commit (the database) sends the first record through the per-record path,
  which tells a database outage (raised: the caller rewinds) from a one-off.

Each call finishes at least one record and returns how many, so the caller's progress (and
the offset it commits) only ever counts finished records.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from shared.errors import AppError
from shared.inbox._event import InboxEvent, ignore_event, read_envelope
from shared.inbox._headers import Origin
from shared.inbox._routing import Outcome, Record
from shared.inbox._store import BatchClaim, claim_batch, parked_among
from shared.resilience.timeouts import with_timeout

if TYPE_CHECKING:
    from shared.inbox._processor import MessageProcessor

log = structlog.get_logger(__name__)

Item = tuple[Record, InboxEvent | None]
"""A record of the batch and its event (``None``: a type the consumer ignores)."""


class _HandlerFailedError(Exception):
    """The handler of ``items[index]`` (``event``) raised ``error``; rolls the batch back."""

    def __init__(self, index: int, event: InboxEvent, error: Exception) -> None:
        super().__init__(f"handler of batch item {index} failed")
        self.index, self.event, self.error = index, event, error


class _KeyParkedError(Exception):
    """``items[index]``'s key is parked (raised to roll the batch back)."""

    def __init__(self, index: int) -> None:
        super().__init__(f"batch item {index} has a parked key")
        self.index = index


async def apply_main_batch(processor: MessageProcessor, records: Sequence[Record]) -> int:
    """Finish a leading run of ``records`` (at least one); return how many are finished.

    Raises:
        Exception: the database or Kafka failed on the per-record path (nothing more finished).
    """
    items = _leading_items(processor, records) if len(records) > 1 else []
    if not items:
        await processor.process_main(records[0])
        return 1
    started = time.perf_counter()
    try:
        outcomes = await _apply(processor, items)
    except (_HandlerFailedError, _KeyParkedError) as stopped:
        # Rolled back: the records before the one that stopped the batch are applied again.
        done = await apply_main_batch(processor, records[: stopped.index]) if stopped.index else 0
        if done < stopped.index:
            return done
        if isinstance(stopped, _HandlerFailedError):
            await processor.observe(records[done], _router(processor, stopped))
        else:
            await processor.process_main(records[done])  # it follows its key into the lane
        return done + 1
    except Exception as exc:
        log.debug("batch claim or commit failed; one record at a time", error=repr(exc))
        await processor.process_main(records[0])
        return 1
    share = (time.perf_counter() - started) / len(items)
    for outcome in outcomes:
        processor.observe_time(records[0].topic, outcome, share)
    processor.metrics.consumer_batch_size.labels(
        topic=records[0].topic, group=processor.group
    ).observe(len(items))
    return len(items)


def _router(
    processor: MessageProcessor, failed: _HandlerFailedError
) -> Callable[[Record], Awaitable[Outcome]]:
    """Route the failed record with the error its one attempt raised (no second call)."""

    async def route(record: Record) -> Outcome:
        return await processor.route_failure(record, failed.event, failed.error)

    return route


def _leading_items(processor: MessageProcessor, records: Sequence[Record]) -> list[Item]:
    """Decode records up to the first one that needs the per-record path (a dead letter)."""
    items: list[Item] = []
    for record in records:
        try:
            envelope = read_envelope(record.headers)
            if processor.handlers.get(envelope[1]) is ignore_event:
                items.append((record, None))
                continue
            origin = Origin(record.topic, record.partition, record.offset)
            items.append((record, processor.decode(record, origin, envelope, attempt=1)))
        except AppError:
            break
    return items


async def _apply(processor: MessageProcessor, items: Sequence[Item]) -> list[Outcome]:
    """Claim and apply ``items`` in one transaction; raise to roll all of it back."""
    applied = [(i, record, event) for i, (record, event) in enumerate(items) if event is not None]
    if not applied:
        return [Outcome.IGNORED] * len(items)
    first = items[0][0]
    batch = BatchClaim(
        group=processor.group,
        topic=first.topic,
        partition=first.partition,
        event_ids=[event.id for _, _, event in applied],
        event_types=[event.type for _, _, event in applied],
        offsets=[record.offset for _, record, _ in applied],
        keys=[record.key for _, record, _ in applied],
        processed_at=processor.clock.now(),
    )
    outcomes = [Outcome.IGNORED] * len(items)
    async with processor.transaction() as (session, context):
        claimed = set(batch.event_ids)
        if processor.dedupe:
            claimed = await claim_batch(session, batch)
            await _raise_if_parked(processor, session, applied, claimed)
        for index, record, event in applied:
            if event.id not in claimed:
                outcomes[index] = Outcome.DUPLICATE
                continue
            claimed.discard(event.id)  # a second copy in the same batch is a duplicate
            with processor.span(record, event.id, event.type) as span:
                try:
                    await with_timeout(
                        processor.handlers[event.type](event, context),
                        processor.handler_timeout_s,
                        operation="inbox.handler",
                    )
                except Exception as exc:
                    raise _HandlerFailedError(index, event, exc) from exc
                span.set_attribute("ordo.inbox.outcome", Outcome.APPLIED.value)
            outcomes[index] = Outcome.APPLIED
    return outcomes


async def _raise_if_parked(
    processor: MessageProcessor,
    session: AsyncSession,
    applied: Sequence[tuple[int, Record, InboxEvent]],
    claimed: set[str],
) -> None:
    """Unclaimed records are duplicates, or wait behind their parked key: find the first such."""
    keys = [r.key for _, r, e in applied if e.id not in claimed and r.key is not None]
    if not keys:
        return
    parked = await parked_among(session, processor.group, processor.topic, keys)
    for index, record, event in applied:
        if event.id not in claimed and record.key in parked:
            raise _KeyParkedError(index)
