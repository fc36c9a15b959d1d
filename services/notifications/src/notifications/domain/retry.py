"""When a failed delivery is tried again: a growing schedule, spread by jitter.

The production schedule waits 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h after the
successive failures of a delivery (8 attempts over about 28 hours), each wait stretched or
shrunk by up to ``jitter`` (20 %) so endpoints that failed together are not retried together.
Tests compress it through settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

__all__ = ["PRODUCTION_DELAYS", "RetrySchedule"]

PRODUCTION_DELAYS: tuple[timedelta, ...] = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """``delays[n-1]`` is the wait after the n-th failed attempt; one more attempt than waits.

    Args:
        delays: the waits, in order (none: a single attempt).
        jitter: the fraction (0 to 0.5) a wait may be stretched or shrunk by.
    """

    delays: tuple[timedelta, ...] = PRODUCTION_DELAYS
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 <= self.jitter <= 0.5:
            raise ValueError("jitter must be between 0 and 0.5")
        if any(delay <= timedelta(0) for delay in self.delays):
            raise ValueError("retry delays must be positive")

    @classmethod
    def of_seconds(cls, delays: Sequence[float], jitter: float = 0.2) -> RetrySchedule:
        """A schedule from waits in seconds (settings)."""
        return cls(tuple(timedelta(seconds=s) for s in delays), jitter)

    @property
    def max_attempts(self) -> int:
        """How many attempts a delivery gets in all, the first included."""
        return len(self.delays) + 1

    def delay_after(self, attempt: int, draw: float) -> timedelta:
        """The wait after failed attempt number ``attempt`` (1-based), jittered by ``draw``.

        ``draw`` is uniform in [0, 1) (``random.random``): 0 shrinks the wait by ``jitter``,
        0.5 keeps it, 1 stretches it by ``jitter``.
        """
        if not 1 <= attempt <= len(self.delays):
            raise ValueError(f"no retry after attempt {attempt}")
        if not 0 <= draw <= 1:
            raise ValueError("draw must be in [0, 1]")
        return self.delays[attempt - 1] * (1 + self.jitter * (2 * draw - 1))
