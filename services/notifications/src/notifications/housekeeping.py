"""Notifications' housekeeping, all of it: the delivery log past its retention, expired
Idempotency-Keys, the inbox of its consumer and published outbox rows.

The chassis runs these chores with the relay role, with their metrics (``shared.housekeeping``);
the delivery log's retention and interval are ``ORDO_DELIVERY__RETENTION_S`` and
``ORDO_DELIVERY__PURGE_INTERVAL_S`` (0: never), the others' ``ORDO_HOUSEKEEPING__*``.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.adapters.persistence.tables import idempotency_keys, outbox
from notifications.application.use_cases.purge_expired_records import PurgeExpiredRecords
from notifications.bootstrap import unit_of_work_factory
from notifications.settings import NotificationsSettings
from shared.clock import Clock, SystemClock
from shared.db import create_session_factory
from shared.housekeeping import Chore, standard_chores

__all__ = ["DELIVERY_LOG_JOB", "chores"]

DELIVERY_LOG_JOB = "notifications.purge_delivery_log"


def chores(
    settings: NotificationsSettings, engine: AsyncEngine, *, clock: Clock | None = None
) -> list[Chore]:
    """Notifications' periodic deletions."""
    found = standard_chores(
        settings,
        engine,
        clock=clock,
        outbox=outbox,
        idempotency_keys=idempotency_keys,
        inbox=True,
    )
    interval_s = settings.delivery.purge_interval_s
    if interval_s > 0:
        uow = unit_of_work_factory(create_session_factory(engine))
        purge = PurgeExpiredRecords(uow, clock or SystemClock(), settings.delivery.rules())

        async def delivery_log() -> int:
            report = await purge()
            return report.deliveries + report.endpoints

        found.append(Chore(DELIVERY_LOG_JOB, delivery_log, interval_s))
    return found
