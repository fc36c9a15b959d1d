"""Wall-clock time as a port, so domain code and tests never call ``datetime.now()`` directly.

Every ``now()`` is timezone-aware UTC: naive datetimes are how off-by-hours bugs reach the
database.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "FrozenClock", "SystemClock", "rfc3339"]


@runtime_checkable
class Clock(Protocol):
    """Source of the current time; ``now()`` always returns an aware datetime in UTC."""

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return ``datetime.now(UTC)``."""
        return datetime.now(UTC)


def rfc3339(moment: datetime) -> str:
    """``moment`` (aware) as RFC 3339 in UTC with a ``Z``, as every Ordo contract writes time."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("FrozenClock needs a timezone-aware datetime")
    return value.astimezone(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests.

    Args:
        at: the initial instant (aware; converted to UTC). Defaults to the real current time.
    """

    def __init__(self, at: datetime | None = None) -> None:
        self._now = _as_utc(at) if at is not None else datetime.now(UTC)

    def now(self) -> datetime:
        """Return the frozen instant."""
        return self._now

    def set(self, at: datetime) -> None:
        """Move the clock to ``at`` (aware; converted to UTC), forwards or backwards."""
        self._now = _as_utc(at)

    def advance(self, delta: timedelta | float = 1.0) -> datetime:
        """Move the clock forward by ``delta`` (a timedelta or seconds) and return the new now."""
        step = delta if isinstance(delta, timedelta) else timedelta(seconds=delta)
        if step < timedelta(0):
            raise ValueError("FrozenClock.advance only moves forward; use set() to go back")
        self._now += step
        return self._now
