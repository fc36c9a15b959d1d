"""The transaction a message is applied in: a plain session, or the service's unit of work.

Either way the inbox claim, the handler's writes (and, through a unit of work, the outbox rows
of the events its aggregates recorded) commit or roll back together.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


class UnitOfWork(Protocol):
    """What the consumer needs of a unit of work (``shared.db.SqlaUnitOfWork`` fits)."""

    @property
    def session(self) -> AsyncSession:
        """The open session, inside the unit of work's transaction."""
        ...

    async def __aenter__(self) -> Any:
        """Open a session and begin its transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        """Roll back what was not committed and close the session."""
        ...

    async def commit(self) -> None:
        """Write pending events to the outbox and commit."""
        ...


Transaction = Callable[[], AbstractAsyncContextManager[tuple[AsyncSession, Any]]]
"""Opens one transaction; yields ``(session, what the handler receives)``; commits on exit."""


def session_transaction(factory: async_sessionmaker[AsyncSession]) -> Transaction:
    """Return a :data:`Transaction` over plain sessions; handlers receive the ``AsyncSession``."""

    @contextlib.asynccontextmanager
    async def open_transaction() -> AsyncIterator[tuple[AsyncSession, Any]]:
        async with factory() as session, session.begin():
            yield session, session

    return open_transaction


def unit_of_work_transaction(factory: Callable[[], UnitOfWork]) -> Transaction:
    """Return a :data:`Transaction` over units of work; handlers receive the unit of work."""

    @contextlib.asynccontextmanager
    async def open_transaction() -> AsyncIterator[tuple[AsyncSession, Any]]:
        uow = factory()
        async with uow:
            yield uow.session, uow
            # Reached only when the block raised nothing: the exit above then rolls back.
            await uow.commit()

    return open_transaction
