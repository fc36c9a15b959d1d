"""Identity's housekeeping, all of it: expired Idempotency-Keys and published outbox rows
(identity consumes no topic, so it has no inbox).

The chassis runs these chores with the relay role, with their metrics (``shared.housekeeping``);
intervals and retentions come from ``ORDO_HOUSEKEEPING__*``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from identity.adapters.persistence.tables import idempotency_keys, outbox
from shared.clock import Clock
from shared.housekeeping import Chore, standard_chores
from shared.settings import ServiceSettings

__all__ = ["chores"]


def chores(
    settings: ServiceSettings, engine: AsyncEngine, *, clock: Clock | None = None
) -> list[Chore]:
    """Identity's periodic deletions."""
    return standard_chores(
        settings, engine, clock=clock, outbox=outbox, idempotency_keys=idempotency_keys
    )
