"""An adaptive concurrency limit for one upstream service, in the manner of Netflix's Gradient2.

The gateway lets at most ``limit`` calls be in flight to a service; a call beyond it is refused
at once (the HTTP adapter answers 503 + Retry-After), so an overloaded service gets less work
instead of a queue. The limit is not configured but measured, from the service's latency:

- Samples are gathered in windows: at least ``window_samples`` calls and at least
  ``window_min_s`` (twice the window's fastest call, capped at ``window_max_s``). A window's
  *short* RTT is the mean of its calls; the *long* RTT is an exponential average of past windows
  (about ``long_window`` of them), the latency of the service when it is not queueing.
- At each window's end: ``gradient = clamp(tolerance * long / short, 0.5, 1)``; 1 while the
  service answers as fast as usual, below 1 once calls take longer than ``tolerance`` times the
  usual (they queue inside the service). Then ``new = limit * gradient + headroom``, smoothed
  (``limit * (1 - smoothing) + new * smoothing``) and bounded by ``min_limit``/``max_limit``. So the
  limit grows by ``smoothing * headroom`` per window while latency holds, and shrinks by up to
  half per window (before smoothing) while it rises; the headroom keeps it at ``2 * headroom``
  or more, whatever ``min_limit`` says.
- A window that saw a call time out (``Outcome.DROPPED``) shrinks the limit as the steepest
  gradient does; a window whose calls never used half the limit changes nothing (the load, not
  the service, was the limit: growing then would only raise a limit nobody tests).
- When the long RTT is more than twice the short one (the service recovered from a long
  slowdown) it decays by 5% per window, so the limit does not stay low for minutes.

Netflix's Gradient2 (and Envoy's adaptive concurrency filter) compare against a no-load RTT too;
Gradient2 takes the long exponential average rather than the minimum, which one lucky fast call
would pin for good. This module is pure: the caller passes the time; the HTTP adapter
(``gateway.adapters.admission``) holds the clock, the wait queue and the metrics.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["AdaptiveLimit", "LimitPolicy", "Outcome", "Permit"]

_MIN_GRADIENT = 0.5
_RECOVERY_RATIO = 2.0
_RECOVERY_DECAY = 0.95
_WARMUP_WINDOWS = 10


class Outcome(enum.Enum):
    """How a call that held a permit ended, as the limit sees it."""

    SUCCESS = "success"  # the service answered: its latency is a sample
    DROPPED = "dropped"  # it timed out: the service is overloaded
    IGNORED = "ignored"  # it failed fast or never ran: says nothing about latency


@dataclass(frozen=True, slots=True)
class LimitPolicy:
    """The bounds and pace of the limit (see the module docstring for each term)."""

    initial_limit: int = 20
    min_limit: int = 2
    max_limit: int = 200
    smoothing: float = 0.2
    tolerance: float = 1.5
    headroom: int = 4
    long_window: int = 600
    window_samples: int = 10
    window_min_s: float = 0.1
    window_max_s: float = 1.0

    def __post_init__(self) -> None:
        if not 1 <= self.min_limit <= self.initial_limit <= self.max_limit:
            raise ValueError("need 1 <= min_limit <= initial_limit <= max_limit")
        if not 0 < self.smoothing <= 1:
            raise ValueError("smoothing must be within (0, 1]")
        if self.tolerance < 1:
            raise ValueError("tolerance must be at least 1")
        if self.window_samples < 1 or self.long_window < 1 or self.headroom < 0:
            raise ValueError("window_samples and long_window must be positive, headroom >= 0")
        if not 0 < self.window_min_s <= self.window_max_s:
            raise ValueError("need 0 < window_min_s <= window_max_s")


@dataclass(frozen=True, slots=True)
class Permit:
    """One admitted call: when it started and how many were in flight with it."""

    started_at: float
    in_flight: int


class _Window:
    __slots__ = ("count", "dropped", "ends_at", "max_in_flight", "min_rtt", "rtt_sum")

    def __init__(self, ends_at: float) -> None:
        self.ends_at = ends_at
        self.count = 0
        self.rtt_sum = 0.0
        self.min_rtt = float("inf")
        self.max_in_flight = 0
        self.dropped = False

    def add(self, rtt: float, in_flight: int, dropped: bool) -> None:
        self.count += 1
        self.rtt_sum += rtt
        self.min_rtt = min(self.min_rtt, rtt)
        self.max_in_flight = max(self.max_in_flight, in_flight)
        self.dropped = self.dropped or dropped


class _ExpAverage:
    """A plain mean over the first windows, an exponential average after them."""

    __slots__ = ("_count", "_factor", "value")

    def __init__(self, window: int) -> None:
        self._factor = 2.0 / (window + 1)
        self._count = 0
        self.value = 0.0

    def add(self, sample: float) -> float:
        if self._count < _WARMUP_WINDOWS:
            self._count += 1
            self.value += (sample - self.value) / self._count
        else:
            self.value += (sample - self.value) * self._factor
        return self.value


class AdaptiveLimit:
    """The concurrency limit of one service and the calls in flight to it (not thread-safe:
    one event loop owns it)."""

    def __init__(self, policy: LimitPolicy, *, now: float = 0.0) -> None:
        self.policy = policy
        self._estimate = float(policy.initial_limit)
        self._long_rtt = _ExpAverage(policy.long_window)
        self._window = _Window(now + policy.window_min_s)
        self.in_flight = 0

    @property
    def limit(self) -> int:
        """The calls allowed in flight now."""
        return int(self._estimate)

    @property
    def long_rtt_s(self) -> float:
        """The usual latency of the service (0 before the first window)."""
        return self._long_rtt.value

    def is_full(self) -> bool:
        """True when one more call would be refused."""
        return self.in_flight >= int(self._estimate)

    def try_acquire(self, now: float) -> Permit | None:
        """Admit one call (and count it in flight), or return None when the limit is reached."""
        if self.in_flight >= int(self._estimate):
            return None
        self.in_flight += 1
        return Permit(now, self.in_flight)

    def release(self, permit: Permit, now: float, outcome: Outcome) -> None:
        """End an admitted call; its latency feeds the limit unless ``outcome`` is IGNORED."""
        self.in_flight -= 1
        if outcome is not Outcome.IGNORED:
            rtt = max(now - permit.started_at, 0.0)
            self._window.add(rtt, permit.in_flight, outcome is Outcome.DROPPED)
        if now >= self._window.ends_at:
            self._close_window(now)

    def _close_window(self, now: float) -> None:
        window, policy = self._window, self.policy
        span = 2 * window.min_rtt if window.count else policy.window_min_s
        self._window = _Window(now + min(max(span, policy.window_min_s), policy.window_max_s))
        if window.dropped:
            self._update(gradient=_MIN_GRADIENT)
        elif window.count >= policy.window_samples:
            self._on_window(window.rtt_sum / window.count, window.max_in_flight)
        # else: too few calls to tell anything; the window is dropped, the limit kept.

    def _on_window(self, short_rtt: float, max_in_flight: int) -> None:
        long_rtt = self._long_rtt.add(short_rtt)
        if short_rtt > 0 and long_rtt / short_rtt > _RECOVERY_RATIO:
            self._long_rtt.value *= _RECOVERY_DECAY
        if max_in_flight < self._estimate / 2:
            return  # limited by the load, not by the service
        if short_rtt <= 0:
            gradient = 1.0
        else:
            gradient = max(_MIN_GRADIENT, min(1.0, self.policy.tolerance * long_rtt / short_rtt))
        self._update(gradient)

    def _update(self, gradient: float) -> None:
        policy = self.policy
        target = self._estimate * gradient + policy.headroom
        smoothed = self._estimate * (1 - policy.smoothing) + target * policy.smoothing
        self._estimate = max(float(policy.min_limit), min(float(policy.max_limit), smoothed))
