"""The unit of work: one transaction per use case; aggregates' new events become outbox rows.

::

    async with uow:                       # a session and a transaction
        order = await uow.orders.get(order_id)
        order.confirm()                      # the aggregate records OrderConfirmed
        uow.record(order.pull_events())      # the mapper turns them into outbox messages
        await uow.commit()                   # flush, outbox rows, COMMIT, ring the relay

Events are recorded one way: the use case hands them to :meth:`SqlaUnitOfWork.record` (the
port is :class:`shared.unit_of_work.TransactionalUnitOfWork`). Nothing is collected behind its
back, so what a transaction publishes is read in the use case.

Only the unit of work commits. Leaving the block without ``commit()`` (or with an exception)
rolls everything back, events included.

A connection lost before COMMIT rolled the transaction back: the error is SQLAlchemy's own, and
running the whole use case again is safe (:data:`shared.resilience.RECONNECT`). A connection
lost during COMMIT leaves the outcome unknown: it is raised as
:class:`~shared.errors.DependencyUnavailableError` (503 for an API caller, who retries with the
same Idempotency-Key), which nothing re-runs blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar, Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.errors import ConflictError, DependencyUnavailableError, is_lost_connection
from shared.outbox import Doorbell, Outbox, OutboxMessage, lane_for
from shared.resilience.timeouts import with_timeout

__all__ = ["EventMapper", "SqlaUnitOfWork"]

EventMapper = Callable[[Any], OutboxMessage]
"""Turns one domain event into the integration message to publish (raise for unknown ones)."""


class SqlaUnitOfWork:
    """An ``AsyncSession`` and its transaction, plus the events its aggregates recorded.

    Args:
        session_factory: from :func:`shared.db.create_session_factory`.
        outbox: writes the messages into the same transaction.
        mapper: domain event -> :class:`OutboxMessage`.
        doorbell: rung after a commit that wrote messages: a ``RelayWakeup`` wakes a relay in
            this process, a ``PgNotifyDoorbell`` the relays of other processes.
        commit_timeout_s: the budget of the flush + outbox insert + COMMIT.

    A subclass sets ``conflict_on_integrity_error`` when a unique violation at commit (two
    requests creating the same thing at once) is the caller's conflict: it is then raised as
    :class:`~shared.errors.ConflictError` (409) rather than as SQLAlchemy's error.

    Messages are written in the order they were recorded, so a key's events keep their order.
    """

    conflict_on_integrity_error: ClassVar[bool] = False

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        outbox: Outbox,
        mapper: EventMapper,
        doorbell: Doorbell | None = None,
        commit_timeout_s: float = 10.0,
    ) -> None:
        self._session_factory = session_factory
        self._outbox = outbox
        self._mapper = mapper
        self._doorbell = doorbell
        self._commit_timeout_s = commit_timeout_s
        self._session: AsyncSession | None = None
        self._messages: list[OutboxMessage] = []
        self._finished = False

    @property
    def session(self) -> AsyncSession:
        """The session of the open unit of work, for repositories."""
        if self._session is None:
            raise RuntimeError("the unit of work is not open: use `async with uow:`")
        return self._session

    async def __aenter__(self) -> Self:
        """Open a session and begin its transaction."""
        if self._session is not None:
            raise RuntimeError("the unit of work is already open")
        self._session = self._session_factory()
        self._messages, self._finished = [], False
        await self._session.begin()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed, then close the session."""
        session, self._session = self._session, None
        if session is None:
            return
        try:
            if not self._finished:
                await session.rollback()
        except Exception:
            # A commit cut short (timeout, lost connection) can leave nothing to roll back on;
            # the error that got us here says more, and the session is discarded either way.
            if exc is None:
                raise
        finally:
            await session.close()
            self._messages = []

    def record(self, events: Iterable[Any]) -> None:
        """Stage domain events; the mapper turns each into an outbox row written at commit.

        Mapping happens here, not at commit, so an unmapped event fails the use case where it
        was recorded.
        """
        self.publish(*(self._mapper(event) for event in events))

    def publish(self, *messages: OutboxMessage) -> None:
        """Queue messages that come from no aggregate (commands to another service)."""
        self._messages.extend(messages)

    async def commit(self) -> None:
        """Flush the aggregates, write their events to the outbox, commit, ring the relay.

        The aggregates are flushed before the outbox insert on purpose: their row locks are
        taken first, so two transactions on one aggregate get outbox ``seq`` values in commit
        order, which is the order the relay publishes.
        """
        session = self.session
        if self._finished:
            raise RuntimeError("the unit of work has already committed or rolled back")
        try:
            lanes = await with_timeout(
                self._write(session), self._commit_timeout_s, operation="uow.commit"
            )
        except IntegrityError as exc:
            if not self.conflict_on_integrity_error:
                raise
            raise ConflictError() from exc
        self._finished = True
        if lanes and self._doorbell is not None:
            self._doorbell.ring(lanes)

    async def _write(self, session: AsyncSession) -> frozenset[int]:
        """Flush, write the outbox rows, commit; return the lanes of the rows written."""
        await session.flush()
        messages, self._messages = self._messages, []
        if messages:
            await self._outbox.add_many(session, messages)
        try:
            await session.commit()
        except Exception as exc:
            if not is_lost_connection(exc):
                raise
            raise DependencyUnavailableError(
                "The database connection was lost while committing; retry with the same key."
            ) from exc
        # The doorbell wakes only the relay loops of these lanes (shared.outbox.RelayWakeup).
        return frozenset(lane_for(m.key, self._outbox.lanes) for m in messages)

    async def rollback(self) -> None:
        """Undo everything since the unit of work opened; it cannot commit afterwards."""
        await self.session.rollback()
        self._finished = True  # nothing left to commit, nor to roll back on exit
