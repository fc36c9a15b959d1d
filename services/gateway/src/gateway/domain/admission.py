"""An adaptive concurrency limit for one upstream service, in the manner of Netflix's Gradient2.

The gateway lets at most ``limit`` calls be in flight to a service; a call beyond it is refused
at once (the HTTP adapter answers 503 + Retry-After), so an overloaded service gets less work
instead of a queue. The limit is not configured but measured, from the service's latency:

- Samples are gathered in windows: at least ``window_samples`` calls and at least
  ``window_min_s`` (twice the window's fastest call, capped at ``window_max_s``). A window's
  *sampled* RTT is the mean of its calls; the *minimum* RTT is the lowest sampled RTT of the
  windows of the last ``baseline_s`` seconds: the latency of the service when nothing queues.
- At each window's end: ``gradient = clamp(tolerance * minimum / sampled, 0.5, 1)``; 1 while
  the service answers as fast as it can, below 1 once calls take longer than ``tolerance``
  times that (they queue inside the service). Then ``new = limit * gradient + headroom``, smoothed
  (``limit * (1 - smoothing) + new * smoothing``) and bounded by ``min_limit``/``max_limit``. So the
  limit grows by ``smoothing * headroom`` per window while latency holds, and shrinks by up to
  half per window (before smoothing) while it rises; the headroom alone keeps it at
  ``2 * headroom`` or more (a lower ``min_limit`` is reached only with less headroom).
- A window that saw a call time out (``Outcome.DROPPED``) shrinks the limit as the steepest
  gradient does; a window whose calls never used half the limit changes nothing (the load, not
  the service, was the limit: growing then would only raise a limit nobody tests).

The gradient, smoothing and headroom are Netflix's Gradient2. Its baseline is a long exponential
average of the RTT, which drifts up with the latency of a long overload (measured here: against
an upstream that can serve two calls at once, the limit stayed at 17 while calls queued for 8x
their no-load time); Envoy's adaptive concurrency and TCP Vegas use the minimum RTT instead.
The minimum is taken over window means, not single calls, so one lucky fast call (a cached or
404 answer) does not pin it, and it expires after ``baseline_s``, so a service that became
slower for good is learned again (an overload longer than that is taken for the new normal
too, and the limit grows back by the headroom until latency rises again).

This module is pure: the caller passes the time; the HTTP adapter (``gateway.adapters.admission``)
holds the clock, the wait queue and the metrics.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

__all__ = ["AdaptiveLimit", "LimitPolicy", "Outcome", "Permit"]

_MIN_GRADIENT = 0.5


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
    baseline_s: float = 60.0
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
        if self.window_samples < 1 or self.baseline_s <= 0 or self.headroom < 0:
            raise ValueError("window_samples and baseline_s must be positive, headroom >= 0")
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


class AdaptiveLimit:
    """The concurrency limit of one service and the calls in flight to it (not thread-safe:
    one event loop owns it)."""

    def __init__(self, policy: LimitPolicy, *, now: float = 0.0) -> None:
        self.policy = policy
        self._estimate = float(policy.initial_limit)
        self._sampled: deque[tuple[float, float]] = deque()  # (window end, sampled RTT)
        self._window = _Window(now + policy.window_min_s)
        self.in_flight = 0

    @property
    def limit(self) -> int:
        """The calls allowed in flight now."""
        return int(self._estimate)

    @property
    def min_rtt_s(self) -> float:
        """The latency of the service when nothing queues (0 before the first window)."""
        return min((rtt for _, rtt in self._sampled), default=0.0)

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
            self._on_window(now, window.rtt_sum / window.count, window.max_in_flight)
        # else: too few calls to tell anything; the window is dropped, the limit kept.

    def _on_window(self, now: float, sampled_rtt: float, max_in_flight: int) -> None:
        self._sampled.append((now, sampled_rtt))  # light windows too: they show the no-load RTT
        while self._sampled[0][0] < now - self.policy.baseline_s:
            self._sampled.popleft()
        if max_in_flight < self._estimate / 2:
            return  # limited by the load, not by the service
        min_rtt = self.min_rtt_s
        if sampled_rtt <= 0:
            gradient = 1.0
        else:
            gradient = max(_MIN_GRADIENT, min(1.0, self.policy.tolerance * min_rtt / sampled_rtt))
        self._update(gradient)

    def _update(self, gradient: float) -> None:
        policy = self.policy
        target = self._estimate * gradient + policy.headroom
        smoothed = self._estimate * (1 - policy.smoothing) + target * policy.smoothing
        self._estimate = max(float(policy.min_limit), min(float(policy.max_limit), smoothed))
