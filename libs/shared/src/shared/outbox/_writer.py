"""Writing outbox rows inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
import weakref
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import JSON, Table, Text, bindparam, cast, insert, select
from sqlalchemy import func as sa_func
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from shared.clock import Clock, SystemClock
from shared.outbox._message import OutboxMessage, build_headers, encode_payload, lane_for
from shared.outbox._schema import DEFAULT_LANES, OutboxNames

__all__ = ["Outbox"]

Executor = AsyncSession | AsyncConnection


class Outbox:
    """Adds events to the outbox table through the caller's session, in the caller's transaction.

    It never flushes, commits or opens a transaction: the rows commit or roll back with the
    business writes around them. Use one instance per process (it holds no connection).

    Args:
        table: the service's outbox table (from :func:`outbox_table`).
        source: the CloudEvents source of this service (``/ordo/orders``).
        lanes: how many ordering lanes keys hash into; writers and relays of a table must agree,
            and changing it needs an empty backlog (a key's old and new lane would race).
        notify: also ``pg_notify`` the relays inside the transaction (delivered on commit, once
            per transaction). Off by default: it serialises the commits of every notifying
            writer (see :class:`PgNotifyDoorbell`, which wakes relays after the commit instead).
        clock: the source of ``ce_time`` for messages without a time.
    """

    def __init__(
        self,
        table: Table,
        *,
        source: str,
        lanes: int = DEFAULT_LANES,
        notify: bool = False,
        clock: Clock | None = None,
    ) -> None:
        if lanes < 1 or lanes > 32767:
            raise ValueError("lanes must be between 1 and 32767")
        self.table = table
        self.names = OutboxNames(table.name, table.schema)
        self.source = source
        self.lanes = lanes
        self.notify = notify
        self._clock = clock or SystemClock()
        # Both JSON columns arrive encoded: text cast to json keeps the exact bytes a consumer
        # will see. ``json`` (not ``jsonb``) because the relay reads them back as text, and
        # rendering jsonb to text cost the relay more than the rest of its read.
        self._insert = insert(table).values(
            id=bindparam("id"),
            lane=bindparam("lane"),
            topic=bindparam("topic"),
            key=bindparam("key"),
            payload=cast(bindparam("payload", type_=Text), JSON),
            headers=cast(bindparam("headers", type_=Text), JSON),
        )
        self._notify = select(sa_func.pg_notify(self.names.channel, ""))
        self._notified: weakref.WeakKeyDictionary[Any, bool] = weakref.WeakKeyDictionary()

    def to_row(self, message: OutboxMessage) -> dict[str, Any]:
        """Return the row for ``message`` (headers include the current trace context)."""
        return {
            "id": message.event_id,
            "lane": lane_for(message.key, self.lanes),
            "topic": message.topic,
            "key": message.key,
            "payload": encode_payload(message.payload),
            "headers": json.dumps(
                build_headers(message, source=self.source, time=self._clock.now()),
                separators=(",", ":"),
            ),
        }

    async def add(self, session: Executor, message: OutboxMessage) -> uuid.UUID:
        """Insert ``message`` in the session's current transaction; return its event id."""
        await self.add_many(session, [message])
        return message.event_id

    async def add_many(
        self, session: Executor, messages: Iterable[OutboxMessage]
    ) -> Sequence[uuid.UUID]:
        """Insert ``messages`` in one statement, in order; return their event ids.

        Order matters: rows get increasing ``seq`` values and the relay publishes a key's rows
        in that order.
        """
        rows = [self.to_row(message) for message in messages]
        if not rows:
            return []
        await session.execute(self._insert, rows)
        if self.notify and self._first_notify(session):
            await session.execute(self._notify)
        return [row["id"] for row in rows]

    def _first_notify(self, session: Executor) -> bool:
        # PostgreSQL folds identical notifications of one transaction anyway; skipping the
        # repeats saves a round trip per add. Keyed on the sync transaction object, which lives
        # exactly as long as the transaction.
        transaction: Any
        if isinstance(session, AsyncSession):
            transaction = session.sync_session.get_transaction()
        else:
            sync = session.sync_connection
            transaction = sync.get_transaction() if sync is not None else None
        if transaction is None:
            return True
        if self._notified.get(transaction):
            return False
        self._notified[transaction] = True
        return True
