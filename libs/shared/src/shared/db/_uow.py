"""The unit of work: one transaction per use case; aggregates' new events become outbox rows.

::

    async with uow:                       # a session and a transaction
        order = await orders.get(order_id)   # the repository calls uow.track(order)
        order.confirm()                      # the aggregate records OrderConfirmed
        await uow.commit()                   # flush, outbox rows, COMMIT, ring the relay

Only the unit of work commits. Leaving the block without ``commit()`` (or with an exception)
rolls everything back, events included.

A connection lost before COMMIT rolled the transaction back: the error is SQLAlchemy's own, and
running the whole use case again is safe (:data:`shared.resilience.RECONNECT`). A connection
lost during COMMIT leaves the outcome unknown: it is raised as
:class:`~shared.errors.DependencyUnavailableError` (503 for an API caller, who retries with the
same Idempotency-Key), which nothing re-runs blindly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Protocol, Self, TypeVar, runtime_checkable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.errors import DependencyUnavailableError, is_lost_connection
from shared.outbox import Doorbell, Outbox, OutboxMessage
from shared.resilience.timeouts import with_timeout

__all__ = ["EventMapper", "EventSource", "SqlaUnitOfWork"]

A = TypeVar("A")


@runtime_checkable
class EventSource(Protocol):
    """An aggregate that records domain events (plain objects) until they are pulled."""

    def pull_events(self) -> Sequence[object]:
        """Return the events recorded since the last pull, oldest first, and forget them."""
        ...


EventMapper = Callable[[object], OutboxMessage]
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

    Events are collected from tracked aggregates first (in tracking order), then from any other
    object in the session that has ``pull_events``. A key's events keep their order.
    """

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
        self._tracked: list[EventSource] = []
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
        self._tracked, self._messages, self._finished = [], [], False
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
            self._tracked, self._messages = [], []

    def track(self, aggregate: A) -> A:
        """Collect ``aggregate``'s events at commit (repositories call it on load and add)."""
        if not isinstance(aggregate, EventSource):
            raise TypeError(f"{type(aggregate).__name__} has no pull_events()")
        if all(aggregate is not seen for seen in self._tracked):
            self._tracked.append(aggregate)
        return aggregate

    def publish(self, *messages: OutboxMessage) -> None:
        """Queue messages that come from no aggregate (commands to another service)."""
        self._messages.extend(messages)

    def _collect(self, session: AsyncSession) -> list[OutboxMessage]:
        sources: list[EventSource] = list(self._tracked)
        for obj in (*session.identity_map.values(), *session.new):
            if isinstance(obj, EventSource) and all(obj is not s for s in sources):
                sources.append(obj)
        messages = [self._mapper(event) for source in sources for event in source.pull_events()]
        messages.extend(self._messages)
        self._messages = []
        return messages

    async def commit(self) -> None:
        """Flush the aggregates, write their events to the outbox, commit, ring the relay.

        The aggregates are flushed before the outbox insert on purpose: their row locks are
        taken first, so two transactions on one aggregate get outbox ``seq`` values in commit
        order, which is the order the relay publishes.
        """
        session = self.session
        if self._finished:
            raise RuntimeError("the unit of work has already committed or rolled back")
        messages = await with_timeout(
            self._write(session), self._commit_timeout_s, operation="uow.commit"
        )
        self._finished = True
        if messages and self._doorbell is not None:
            self._doorbell.ring()

    async def _write(self, session: AsyncSession) -> int:
        await session.flush()
        messages = self._collect(session)
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
        return len(messages)

    async def rollback(self) -> None:
        """Undo everything since the unit of work opened; it cannot commit afterwards."""
        await self.session.rollback()
        self._finished = True  # nothing left to commit, nor to roll back on exit
