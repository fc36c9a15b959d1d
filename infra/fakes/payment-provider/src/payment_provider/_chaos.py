"""Injected trouble: latency, errors before and after commit, and outage windows.

Every draw comes from one ``random.Random`` seeded from the config, so a given seed and request
sequence fails the same way every run. Outage windows are kept on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from payment_provider._models import Behaviour, OutageOut
from payment_provider._problems import ProviderProblem
from payment_provider.config import OutageMode

OUTCOMES = (
    "authorized",
    "declined",
    "replayed",
    "key_reused",
    "voided",
    "error_before",
    "error_after_commit",
    "outage",
)


@dataclass(frozen=True)
class Outage:
    """A window ``[starts_at, ends_at)`` on the monotonic clock."""

    id: str
    mode: OutageMode
    starts_at: float
    ends_at: float

    def view(self, now: float) -> OutageOut:
        return OutageOut(
            id=self.id,
            mode=self.mode,
            starts_in_s=round(self.starts_at - now, 3),
            ends_in_s=round(self.ends_at - now, 3),
            active=self.starts_at <= now < self.ends_at,
        )


class Chaos:
    """Decides, per call, how late and whether to fail; counts outcomes for ``/admin/stats``."""

    def __init__(
        self,
        behaviour: Behaviour,
        seed: int | None,
        outage_mode: OutageMode,
        hang_timeout_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.behaviour = behaviour
        self.default_outage_mode: OutageMode = outage_mode
        self.hang_timeout_s = hang_timeout_s
        self.stats: Counter[str] = Counter()
        # Not for security: reproducible fault injection in a test double.
        self._random = random.Random(seed)  # noqa: S311  # nosec B311
        self._clock = clock
        self._outages: list[Outage] = []
        self._lock = asyncio.Lock()

    async def set_behaviour(self, behaviour: Behaviour) -> None:
        async with self._lock:
            self.behaviour = behaviour

    async def add_outage(
        self, start_in_s: float, duration_s: float, mode: OutageMode | None
    ) -> OutageOut:
        now = self._clock()
        outage = Outage(
            id=f"outage_{uuid.uuid4().hex[:12]}",
            mode=mode or self.default_outage_mode,
            starts_at=now + start_in_s,
            ends_at=now + start_in_s + duration_s,
        )
        async with self._lock:
            self._outages = [o for o in self._outages if o.ends_at > now] + [outage]
        return outage.view(now)

    async def clear_outages(self) -> None:
        async with self._lock:
            self._outages = []

    def outages(self) -> list[OutageOut]:
        now = self._clock()
        return [o.view(now) for o in self._outages if o.ends_at > now]

    async def before(self) -> None:
        """Run ahead of every provider call: outage, then latency, then maybe a 503."""
        outage = self._active_outage()
        if outage is not None:
            if outage.mode == "hang":
                # Hang like a dead upstream; clients should time out long before we answer.
                remaining = outage.ends_at - self._clock()
                await asyncio.sleep(max(0.0, min(remaining, self.hang_timeout_s)))
            self.stats["outage"] += 1
            raise ProviderProblem(
                503,
                "outage",
                "Service unavailable",
                "The provider is having an outage; retry later with the same Idempotency-Key.",
                {"Retry-After": "1"},
            )
        delay_s = self._delay_s()
        if delay_s > 0:
            await asyncio.sleep(delay_s)
        if self._draw(self.behaviour.error_rate):
            self.stats["error_before"] += 1
            raise ProviderProblem(
                503,
                "unavailable",
                "Service unavailable",
                "Transient provider error; nothing was done. Retry with the same key.",
            )

    def after_commit(self) -> None:
        """Run after a call's effect is recorded: maybe lose the response with a 500."""
        if self._draw(self.behaviour.error_after_commit_rate):
            self.stats["error_after_commit"] += 1
            raise ProviderProblem(
                500,
                "internal",
                "Internal server error",
                "The provider failed while answering; the outcome is unknown to you. "
                "Retry with the same Idempotency-Key.",
            )

    def _active_outage(self) -> Outage | None:
        now = self._clock()
        return next((o for o in self._outages if o.starts_at <= now < o.ends_at), None)

    def _delay_s(self) -> float:
        latency, jitter = self.behaviour.latency_ms, self.behaviour.jitter_ms
        if jitter > 0:
            latency += self._random.uniform(-jitter, jitter)
        return max(0.0, latency) / 1000

    def _draw(self, rate: float) -> bool:
        # No draw at 0: a seed's sequence depends only on the calls that can fail.
        return rate > 0 and self._random.random() < rate
