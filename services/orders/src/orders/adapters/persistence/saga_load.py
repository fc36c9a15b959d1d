"""How far behind the saga is, read from orders' own database in one cheap statement.

- ``saga_lag``: how long the orders still waiting for their stock step (``pending``) have
  waited. Every order takes that step first, through orders' relay, Kafka, catalog's consumer
  and relay and orders' consumer, and nothing outside Ordo is involved in it: when any of those
  falls behind, it shows here first. (The payment step also waits for the provider, which may
  defer for minutes by design, so it is no measure of our own backlog.)
- ``outbox_age``: how long orders' unpublished outbox rows have waited (orders' relay).

Each is the age of the ``quorum``-th oldest, so one order or row that is stuck (a poison record
being dead-lettered, a lane backing off) does not stop intake on its own. In-flight orders are
read through the partial index of saga deadlines (terminal orders have none), outbox rows
through the partial index of unpublished rows: the cost follows the backlog, which admission
keeps small, not the size of the tables.
"""

from __future__ import annotations

from sqlalchemy import Integer, bindparam, func, select

from orders.adapters.persistence.tables import orders, outbox
from orders.application.admission import SagaLoad
from orders.domain.model import OrderStatus
from shared.db import ReadOnlyDatabase

__all__ = ["SqlaSagaLoadProbe"]

_skip = bindparam("skip", type_=Integer)
_OUTBOX_AGE = (
    select(func.extract("epoch", func.now() - outbox.c.created_at))
    .where(outbox.c.published_at.is_(None))
    .order_by(outbox.c.seq)
    .offset(_skip)
    .limit(1)
    .scalar_subquery()
)
_SAGA_LAG = (
    select(func.extract("epoch", func.now() - orders.c.placed_at))
    .where(orders.c.deadline_at.is_not(None), orders.c.status == OrderStatus.PENDING.value)
    .order_by(orders.c.placed_at)
    .offset(_skip)
    .limit(1)
    .scalar_subquery()
)
_LOAD = select(_SAGA_LAG.label("saga_lag"), _OUTBOX_AGE.label("outbox_age"))


class SqlaSagaLoadProbe:
    """Measures :class:`SagaLoad` (call it a few times a second, not per request)."""

    def __init__(self, db: ReadOnlyDatabase, *, quorum: int = 3) -> None:
        if quorum < 1:
            raise ValueError("quorum must be at least 1")
        self._db, self._params = db, {"skip": quorum - 1}

    async def __call__(self) -> SagaLoad:
        """The saga's backlog now, in seconds (0 when nothing waits)."""
        row = await self._db.first(_LOAD, self._params)
        saga_lag = row.saga_lag if row is not None else None
        outbox_age = row.outbox_age if row is not None else None
        return SagaLoad(
            saga_lag_s=max(float(saga_lag or 0), 0.0), outbox_age_s=max(float(outbox_age or 0), 0.0)
        )
