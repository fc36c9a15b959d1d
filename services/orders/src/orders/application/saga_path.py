"""Whether the saga's own path can move messages: outages of our infrastructure delay, they do
not cancel.

A saga step waits for messages that travel orders' outbox -> relay -> Kafka -> a consumer in
another service -> its relay -> Kafka -> orders' consumer. When that path is known to be down
(the broker unreachable, orders' relay stalled, a consumer group not moving), a step that runs
out of time did not fail for the customer's reasons, so the sweeper holds it instead of
cancelling it (:meth:`orders.domain.model.Order.hold`), up to the step's hard bound.

- :class:`SagaPathProbe` is the port: ``blocked()`` says why the path cannot move now, or None.
  Adapters: ``orders.adapters.saga_path``.
- :class:`SagaPathGuard` is the policy the sweeper asks: hold while the probe says blocked, and
  for ``recovery`` after it last did (the backlog the outage left must drain before deadlines
  count again). A guard that has not yet seen the path treats its own start as the end of an
  outage: a worker restarted during or just after one does not know what it missed.
- :data:`OPEN_PATH` never holds (tests, and services run without the guard).

See docs/runbooks/saga-deadlines.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

__all__ = ["OPEN_PATH", "PathGuard", "SagaPathGuard", "SagaPathProbe"]


class SagaPathProbe(Protocol):
    """Looks at the saga's path now."""

    async def blocked(self) -> str | None:
        """Why the saga's messages cannot move now (for logs and the runbook), or None.

        Never raises: a probe that cannot tell says so as a reason (it is the path's state
        that is unknown, which is not the customer's fault either).
        """
        ...


class PathGuard(Protocol):
    """What the sweeper asks before it times a step out."""

    async def hold_reason(self, now: datetime) -> str | None:
        """Why deadlines are held at ``now``, or None when they count."""
        ...


class _OpenPath:
    async def hold_reason(self, now: datetime) -> str | None:
        del now
        return None


OPEN_PATH: PathGuard = _OpenPath()
"""A guard that never holds: every passed deadline times out."""


class SagaPathGuard:
    """Holds deadlines while ``probe`` reports the path blocked, and ``recovery`` after.

    Args:
        probe: the path's state now.
        recovery: how long after the last blocked report deadlines stay held; one stock step
            (the default stock deadline) lets every order the outage delayed have a full step
            of a working path.
        min_probe_interval: the probe is asked at most this often; between, its last answer
            stands (the sweeper may run several batches in a row).
    """

    def __init__(
        self,
        probe: SagaPathProbe,
        *,
        recovery: timedelta,
        min_probe_interval: timedelta = timedelta(seconds=0.5),
    ) -> None:
        if recovery < timedelta(0):
            raise ValueError("recovery must not be negative")
        self._probe = probe
        self._recovery = recovery
        self._min_interval = min_probe_interval
        self._probed_at: datetime | None = None
        self._blocked: str | None = None
        self._last_blocked_at: datetime | None = None
        self._last_reason = "the worker started (what happened before is unknown)"

    async def hold_reason(self, now: datetime) -> str | None:
        """Why deadlines are held at ``now`` (blocked, or recovering), or None."""
        if self._last_blocked_at is None:
            self._last_blocked_at = now  # a fresh guard: assume an outage just ended
        if self._probed_at is None or now - self._probed_at >= self._min_interval:
            self._blocked = await self._probe.blocked()
            self._probed_at = now
            if self._blocked is not None:
                self._last_blocked_at, self._last_reason = now, self._blocked
        if self._blocked is not None:
            return self._blocked
        if now - self._last_blocked_at < self._recovery:
            return f"recovering for {self._recovery.total_seconds():g} s after: {self._last_reason}"
        return None
