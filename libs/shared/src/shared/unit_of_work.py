"""The unit-of-work port, as every service's application layer sees it; framework-free.

A service's ``application/ports.py`` extends it with its repositories::

    class UnitOfWork(TransactionalUnitOfWork[DomainEvent], Protocol):
        @property
        def orders(self) -> OrderRepository: ...

and a use case runs in one of them::

    async with self._uow() as uow:
        order = await uow.orders.get(...)
        uow.record(order.pull_events())
        await uow.commit()      # changes and outbox rows together; no commit: rolled back

``shared.db.SqlaUnitOfWork`` is the adapter services build theirs on.
"""

from __future__ import annotations

from collections.abc import Iterable
from types import TracebackType
from typing import Protocol, Self, TypeVar

__all__ = ["TransactionalUnitOfWork"]

E_contra = TypeVar("E_contra", contravariant=True)


class TransactionalUnitOfWork(Protocol[E_contra]):
    """One transaction: begin on enter, stage the domain events ``E_contra``, commit."""

    async def __aenter__(self) -> Self:
        """Begin the transaction."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Roll back whatever was not committed."""
        ...

    def record(self, events: Iterable[E_contra]) -> None:
        """Stage events to publish (outbox rows at commit)."""
        ...

    async def commit(self) -> None:
        """Commit the changes and the staged events together."""
        ...
