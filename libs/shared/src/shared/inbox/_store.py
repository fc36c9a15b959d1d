"""The inbox's SQL: claim an event, park and release keys, purge expired rows."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, exists, literal_column, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnClause

from shared.clock import Clock, SystemClock
from shared.inbox._schema import (
    INBOX_MESSAGES,
    INBOX_PARKED_KEYS,
    INBOX_REPLAYED,
    inbox_messages,
    inbox_metadata,
    parked_keys,
)

INBOX_RETENTION = timedelta(days=30)
"""How long an applied event id is remembered; must exceed every way a duplicate can arrive.

Duplicates come from: the relay re-publishing after a crash (seconds to minutes), redelivery of
uncommitted offsets after a crash or rebalance (seconds), a consumer group reset to the earliest
offset (up to the topic retention, 7 days in infra/kafka/topics.toml), and a replay of a dead
letter (up to the DLQ retention, 28 days). 30 days covers all four; the replay also refuses
dead letters older than the window, so an expired id can never be applied twice through it.
"""

MIN_INBOX_RETENTION = timedelta(days=8)
"""The shortest window :func:`purge_inbox` accepts: above the 7-day topic retention."""


class Claim(enum.Enum):
    """The result of claiming an event id in the inbox."""

    CLAIMED = "claimed"
    """First time this group sees the event: apply it in the same transaction."""
    DUPLICATE = "duplicate"
    """Already applied: skip it and acknowledge."""
    PARKED = "parked"
    """Its key has a message waiting in the retry lane: send this one after it."""


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    """The facts about one consumed record that the inbox row keeps."""

    group: str
    event_id: str
    event_type: str
    topic: str
    partition: int
    offset: int
    processed_at: datetime


_m, _p = inbox_messages.c, parked_keys.c
_CLAIM_COLUMNS = [
    "consumer_group",
    "event_id",
    "event_type",
    "topic",
    "kafka_partition",
    "kafka_offset",
    "processed_at",
]
# Built once with bind parameters: constructing and cache-keying a statement per message cost
# about a quarter of the inbox's overhead in bench/outbox/inbox_ratio.py.
_claim_values = select(*(bindparam(name, type_=_m[name].type) for name in _CLAIM_COLUMNS))
_key_is_parked = exists().where(
    _p.consumer_group == bindparam("consumer_group"),
    _p.topic == bindparam("topic"),
    _p.message_key == bindparam("message_key", type_=_p.message_key.type),
)
_CLAIM = (
    pg_insert(inbox_messages)
    .from_select(_CLAIM_COLUMNS, _claim_values)
    .on_conflict_do_nothing(index_elements=[_m.consumer_group, _m.event_id])
    .returning(_m.event_id)
)
_CLAIM_UNLESS_PARKED = (
    pg_insert(inbox_messages)
    .from_select(_CLAIM_COLUMNS, _claim_values.where(~_key_is_parked))
    .on_conflict_do_nothing(index_elements=[_m.consumer_group, _m.event_id])
    .returning(_m.event_id)
)
_IS_PARKED = select(_key_is_parked)
_park = pg_insert(parked_keys).values(
    consumer_group=bindparam("consumer_group"),
    topic=bindparam("topic"),
    message_key=bindparam("message_key"),
    last_event_id=bindparam("last_event_id"),
    parked_at=bindparam("parked_at"),
)
_PARK = _park.on_conflict_do_update(
    index_elements=[_p.consumer_group, _p.topic, _p.message_key],
    set_={"last_event_id": _park.excluded.last_event_id, "parked_at": _park.excluded.parked_at},
)
_RELEASE = delete(parked_keys).where(
    _p.consumer_group == bindparam("consumer_group"),
    _p.topic == bindparam("topic"),
    _p.message_key == bindparam("message_key"),
    _p.last_event_id == bindparam("last_event_id"),
)


async def claim(session: AsyncSession, req: ClaimRequest, *, key: bytes | None) -> Claim:
    """Insert the inbox row for ``req`` in the session's transaction, once per (group, event).

    With a ``key``, the claim also fails (``PARKED``) while that key is parked, in the same
    statement: the common path costs one round trip, the rare ones two.
    """
    params = {
        "consumer_group": req.group,
        "event_id": req.event_id,
        "event_type": req.event_type,
        "topic": req.topic,
        "kafka_partition": req.partition,
        "kafka_offset": req.offset,
        "processed_at": req.processed_at,
    }
    if key is None:
        claimed = (await session.execute(_CLAIM, params)).first()
    else:
        params["message_key"] = key
        claimed = (await session.execute(_CLAIM_UNLESS_PARKED, params)).first()
    if claimed is not None:
        return Claim.CLAIMED
    if key is not None and await is_key_parked(session, req.group, req.topic, key):
        return Claim.PARKED
    return Claim.DUPLICATE


@dataclass(frozen=True, slots=True)
class BatchClaim:
    """The facts about a partition batch's records that their inbox rows keep, in offset order.

    ``keys[i]`` is ``None`` for a keyless record. Every record is of ``group``/``topic``/
    ``partition``.
    """

    group: str
    topic: str
    partition: int
    event_ids: Sequence[str]
    event_types: Sequence[str]
    offsets: Sequence[int]
    keys: Sequence[bytes | None]
    processed_at: datetime


# One statement for the whole batch: arrays in, one row out per claimed event. A record whose
# key is parked is not claimed (it must follow its key into the retry lane); an event id seen
# before, or twice in the batch, is claimed once (ON CONFLICT DO NOTHING within one statement).
# Table names are written out, not formatted in (no SQL built from strings); a unit test checks
# they are the schema's.
_CLAIM_BATCH = text(
    """
    INSERT INTO inbox_messages (consumer_group, event_id, event_type, topic, kafka_partition,
                                  kafka_offset, processed_at)
    SELECT :consumer_group, r.event_id, r.event_type, :topic, :kafka_partition, r.kafka_offset,
           :processed_at
    FROM unnest(CAST(:event_ids AS text[]), CAST(:event_types AS text[]),
                CAST(:offsets AS bigint[]), CAST(:message_keys AS bytea[]))
         AS r(event_id, event_type, kafka_offset, message_key)
    WHERE r.message_key IS NULL OR NOT EXISTS (
        SELECT 1 FROM inbox_parked_keys p
        WHERE p.consumer_group = :consumer_group AND p.topic = :topic
          AND p.message_key = r.message_key)
    ON CONFLICT (consumer_group, event_id) DO NOTHING
    RETURNING event_id
    """
)
_PARKED_AMONG = text(
    """
    SELECT message_key FROM inbox_parked_keys
    WHERE consumer_group = :consumer_group AND topic = :topic
      AND message_key = ANY(CAST(:message_keys AS bytea[]))
    """
)


async def claim_batch(session: AsyncSession, batch: BatchClaim) -> set[str]:
    """Insert the inbox rows of a partition batch in one round trip; return the claimed ids.

    An id not returned is a duplicate, or its key is parked: :func:`parked_among` tells which.
    """
    params = {
        "consumer_group": batch.group,
        "topic": batch.topic,
        "kafka_partition": batch.partition,
        "processed_at": batch.processed_at,
        "event_ids": list(batch.event_ids),
        "event_types": list(batch.event_types),
        "offsets": list(batch.offsets),
        "message_keys": list(batch.keys),
    }
    rows = await session.execute(_CLAIM_BATCH, params)
    return {row[0] for row in rows}


async def parked_among(
    session: AsyncSession, group: str, topic: str, keys: Sequence[bytes]
) -> set[bytes]:
    """Return which of ``keys`` are parked (have a message in ``group``'s retry lane)."""
    if not keys:
        return set()
    params = {"consumer_group": group, "topic": topic, "message_keys": list(keys)}
    rows = await session.execute(_PARKED_AMONG, params)
    return {bytes(row[0]) for row in rows}


async def is_key_parked(session: AsyncSession, group: str, topic: str, key: bytes) -> bool:
    """Return True while ``key`` of ``topic`` has a message in ``group``'s retry lane."""
    params = {"consumer_group": group, "topic": topic, "message_key": key}
    return bool(await session.scalar(_IS_PARKED, params))


async def park_key(
    session: AsyncSession, *, group: str, topic: str, key: bytes, event_id: str, now: datetime
) -> None:
    """Record that ``event_id`` of ``key`` is the newest message sent to the retry lane."""
    params = {
        "consumer_group": group,
        "topic": topic,
        "message_key": key,
        "last_event_id": event_id,
        "parked_at": now,
    }
    await session.execute(_PARK, params)


async def release_key(
    session: AsyncSession, *, group: str, topic: str, key: bytes, event_id: str
) -> None:
    """Unpark ``key`` if ``event_id`` is the last message sent to the lane for it.

    A newer message of the same key in the lane keeps the key parked until that one is done.
    """
    params = {
        "consumer_group": group,
        "topic": topic,
        "message_key": key,
        "last_event_id": event_id,
    }
    await session.execute(_RELEASE, params)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Rows deleted by :func:`purge_inbox`, per table."""

    messages: int
    parked_keys: int
    replay_marks: int


_PURGE = {
    INBOX_MESSAGES: "processed_at",
    INBOX_PARKED_KEYS: "parked_at",
    INBOX_REPLAYED: "replayed_at",
}


async def purge_inbox(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    older_than: timedelta = INBOX_RETENTION,
    clock: Clock | None = None,
    batch_size: int = 10_000,
) -> PurgeResult:
    """Delete inbox rows, stale parked keys and replay marks older than ``older_than``.

    Deletes in batches of ``batch_size``, one short transaction each, so a large backlog never
    holds locks or bloats one transaction. Replay audit entries are kept: they are the audit.
    Run it from a scheduled job; it is safe to run concurrently with consumers.
    """
    if older_than < MIN_INBOX_RETENTION:
        # A shorter window would let a consumer group reset to the earliest offset apply twice.
        raise ValueError(f"older_than={older_than} is below {MIN_INBOX_RETENTION}")
    cutoff = (clock or SystemClock()).now() - older_than
    counts: dict[str, int] = {}
    for table, column in _PURGE.items():
        target = inbox_metadata.tables[table]
        ctid: ColumnClause[Any] = literal_column("ctid")
        # Batches by physical row id: no key needed, and each batch is one short transaction.
        batch = select(ctid).select_from(target).where(target.c[column] < cutoff).limit(batch_size)
        statement = delete(target).where(ctid.in_(batch))
        total = 0
        while True:
            async with session_factory() as session, session.begin():
                result = await session.execute(statement)
            deleted = int(getattr(result, "rowcount", 0) or 0)
            total += deleted
            if deleted < batch_size:
                break
        counts[table] = total
    return PurgeResult(
        messages=counts[INBOX_MESSAGES],
        parked_keys=counts[INBOX_PARKED_KEYS],
        replay_marks=counts[INBOX_REPLAYED],
    )
