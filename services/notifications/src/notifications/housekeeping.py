"""Notifications' own housekeeping chore: the delivery log past its retention.

Declared with the common chores in ``entrypoints/service.py`` (``shared.housekeeping``); its
retention and interval are ``ORDO_DELIVERY__RETENTION_S`` and ``ORDO_DELIVERY__PURGE_INTERVAL_S``
(0: never).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from notifications.application.use_cases.purge_expired_records import PurgeExpiredRecords
from notifications.bootstrap import unit_of_work_factory
from notifications.settings import NotificationsSettings
from shared.clock import Clock, SystemClock
from shared.db import create_session_factory
from shared.housekeeping import Chore

__all__ = ["DELIVERY_LOG_JOB", "delivery_log"]

DELIVERY_LOG_JOB = "notifications.purge_delivery_log"


def delivery_log(
    settings: NotificationsSettings, engine: AsyncEngine, clock: Clock | None = None
) -> list[Chore]:
    """The delivery log's purge (none when its interval is 0)."""
    interval_s = settings.delivery.purge_interval_s
    if interval_s <= 0:
        return []
    uow = unit_of_work_factory(create_session_factory(engine))
    purge = PurgeExpiredRecords(uow, clock or SystemClock(), settings.delivery.rules())

    async def run() -> int:
        report = await purge()
        return report.deliveries + report.endpoints

    return [Chore(DELIVERY_LOG_JOB, run, interval_s)]
