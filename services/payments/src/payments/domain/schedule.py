"""When a postponed payment is tried again: capped exponential backoff with jitter."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

__all__ = ["RetrySchedule"]


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """The wait after the n-th postponement in a row.

    ``min(max_delay_s, initial_delay_s * multiplier**(n-1))`` scaled by a random factor in
    ``[1 - jitter, 1]``: payments that failed together (an outage) do not come back together.
    """

    initial_delay_s: float = 1.0
    multiplier: float = 2.0
    max_delay_s: float = 60.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if self.initial_delay_s <= 0 or self.max_delay_s < self.initial_delay_s:
            raise ValueError("delays must be positive and max_delay_s >= initial_delay_s")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be within [0, 1]")

    def base_delay_s(self, postponements: int) -> float:
        """The un-jittered wait after ``postponements`` (>= 1) postponements in a row."""
        if postponements < 1:
            raise ValueError("postponements counts from 1")
        exponent = min(postponements - 1, 64)
        return float(min(self.max_delay_s, self.initial_delay_s * self.multiplier**exponent))

    def delay(self, postponements: int, rand: float) -> timedelta:
        """The jittered wait; ``rand`` is a draw from ``[0, 1)``."""
        if not 0 <= rand < 1:
            raise ValueError("rand is a draw from [0, 1)")
        return timedelta(seconds=self.base_delay_s(postponements) * (1.0 - self.jitter * rand))
