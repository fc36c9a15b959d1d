"""The tunable rules of notifications' use cases (read from settings by ``bootstrap``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from notifications.domain.retry import RetrySchedule

__all__ = ["DeliveryRules", "EndpointRules"]


@dataclass(frozen=True, slots=True)
class EndpointRules:
    """What an org may register.

    Attributes:
        max_per_org: endpoints an org may have at once (409 beyond).
        allow_loopback_http: accept loopback URLs, over http too (local runs and tests only).
    """

    max_per_org: int = 20
    allow_loopback_http: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryRules:
    """How deliveries are tried.

    Attributes:
        schedule: the waits between attempts (and so how many attempts).
        lease: how long a claimed delivery is reserved for the worker that claimed it; after
            that (a crashed worker) it is due again. Longer than the HTTP timeout.
        disable_after: an endpoint whose deliveries keep dying with no success for this long
            is disabled.
        retention: finished deliveries (and deleted endpoints) older than this are purged.
        purge_batch: rows deleted per statement by the purge.
    """

    schedule: RetrySchedule = field(default_factory=RetrySchedule)
    lease: timedelta = timedelta(seconds=60)
    disable_after: timedelta = timedelta(days=5)
    retention: timedelta = timedelta(days=30)
    purge_batch: int = 1000
