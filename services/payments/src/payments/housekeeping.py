"""Payments' housekeeping, all of it: the inbox of its consumer and published outbox rows
(its API takes no Idempotency-Keys).

The chassis runs these chores with the relay role, with their metrics (``shared.housekeeping``);
intervals and retentions come from ``ORDO_HOUSEKEEPING__*``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from payments.adapters.persistence.tables import outbox
from shared.clock import Clock
from shared.housekeeping import Chore, standard_chores
from shared.settings import ServiceSettings

__all__ = ["chores"]


def chores(
    settings: ServiceSettings, engine: AsyncEngine, *, clock: Clock | None = None
) -> list[Chore]:
    """Payments' periodic deletions."""
    return standard_chores(settings, engine, clock=clock, outbox=outbox, inbox=True)
