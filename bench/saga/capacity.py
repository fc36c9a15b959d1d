"""The capacity search of ``make bench-saga``: which rates to try, and what a run's result is.

A step passes when every order it offered was answered 201 and confirmed, with placed ->
confirmed p99 within the bound (300 ms). The ladder climbs its rungs (short steps) while they
pass; at the first failure it bisects between the best pass and the lowest failure a few times;
the best pass is then run for the full duration (60 s), stepping down when that fails. The
capacity is the highest rate that passed a full-length run.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from load import REFUSED, Run, quantile

DEFAULT_RUNGS = (10, 20, 40, 60, 80, 100, 150, 200, 300, 400, 600)


@dataclass
class Ladder:
    """Rates to try, given the results so far (``record``); ``next()`` is None when done."""

    rungs: tuple[float, ...] = DEFAULT_RUNGS
    bisections: int = 2
    #: Stop bisecting once the gap between the best pass and the lowest failure is this small.
    resolution: float = 0.1
    passed: float = 0.0
    failed: float | None = None
    tried: list[tuple[float, bool]] = field(default_factory=list)
    _rung: int = 0
    _bisected: int = 0

    def next(self) -> float | None:
        if self.failed is None:
            return self.rungs[self._rung] if self._rung < len(self.rungs) else None
        if self._bisected >= self.bisections:
            return None
        if self.failed - self.passed <= max(1.0, self.resolution * self.failed):
            return None
        mid = float(round((self.passed + self.failed) / 2))
        return mid if self.passed < mid < self.failed else None

    def record(self, rate: float, ok: bool) -> None:
        if self.failed is None:
            self._rung += 1
        else:
            self._bisected += 1
        self.tried.append((rate, ok))
        if ok:
            self.passed = max(self.passed, rate)
        else:
            self.failed = rate if self.failed is None else min(self.failed, rate)


def step_down(rate: float) -> float:
    """The next rate to confirm after a full-length run at ``rate`` failed (0: give up)."""
    lower = math.floor(rate * 0.85)
    return float(lower) if lower >= 1 else 0.0


def summarize(run: Run, seen: dict[str, tuple[str, float]]) -> dict[str, Any]:
    """What one open-loop run gave: answers, outcomes, latencies (ms), the generator's lateness.

    Only the sends after the lead-in count. An accepted order without a confirmation counts as
    infinitely slow in the percentiles.
    ``confirmed_in_window`` counts confirmations that arrived before the send window closed.
    """
    window_end = run.scored_from + run.duration
    sends = run.scored
    outcomes: Counter[str] = Counter()
    latencies: list[float] = []
    in_window = 0
    for send in run.accepted:
        outcome = seen.get(send.order_id or "")
        outcomes[outcome[0] if outcome else "unknown"] += 1
        if outcome and outcome[0] == "confirmed":
            latencies.append((outcome[1] - send.sent) * 1000)
            in_window += outcome[1] <= window_end
        else:
            latencies.append(math.inf)
    late = [(s.sent - s.due) * 1000 for s in sends if not math.isnan(s.sent)]
    refused = [(s.answered - s.sent) * 1000 for s in sends if s.status in REFUSED]
    return {
        "rate": run.rate,
        "duration_s": run.duration,
        "lead_in_s": run.lead_in,
        "sent_for_s": round(run.ended - run.scored_from, 2),
        "aborted": run.aborted,
        "offered": len(sends),
        "answers": dict(Counter(str(s.status) for s in sends)),
        "accepted": len(run.accepted),
        "outcomes": dict(outcomes),
        "confirmed": outcomes["confirmed"],
        "confirmed_in_window": in_window,
        "p50_ms": quantile(latencies, 0.50),
        "p99_ms": quantile(latencies, 0.99),
        "max_ms": max(latencies, default=math.nan),
        "refused": len(refused),
        "refused_p99_ms": quantile(refused, 0.99),
        "generator_late_p99_ms": quantile(late, 0.99),
        "generator_late_max_ms": max(late, default=math.nan),
    }


def passes(result: dict[str, Any], bound_ms: float) -> bool:
    """Every offered order answered 201 and confirmed, p99 within ``bound_ms``."""
    return (
        not result["aborted"]
        and result["offered"] > 0
        and result["confirmed"] == result["offered"]
        and result["p99_ms"] <= bound_ms
    )


def describe(result: dict[str, Any]) -> str:
    """One line for the progress log."""
    answers = " ".join(f"{k}:{v}" for k, v in sorted(result["answers"].items()))
    line = (
        f"{result['offered']} offered ({answers}), {result['confirmed']} confirmed, "
        f"p50 {result['p50_ms']:.0f} ms p99 {result['p99_ms']:.0f} ms, "
        f"generator late p99 {result['generator_late_p99_ms']:.1f} ms "
        f"max {result['generator_late_max_ms']:.1f} ms"
    )
    if result["aborted"]:
        line += f"; stopped after {result['sent_for_s']:.1f} s: {result['aborted']}"
    return line
