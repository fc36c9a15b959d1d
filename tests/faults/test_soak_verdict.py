"""The soak's bounds (bench/soak/run.py): flat samples pass; memory, p99 or rows per order
that drift fail, each with its reason."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("soak_run", ROOT / "bench/soak/run.py")
assert _spec is not None
assert _spec.loader is not None
soak = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(soak)


def samples(n: int = 8, **drift: float) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        out.append(
            {
                "t_s": 30 * i,
                "confirmed": 180,
                "p99_ms": 150 + drift.get("p99", 0) * i,
                "stuck": 0,
                "rss_mib": {"orders": 120 + drift.get("rss", 0) * i},
                "rows": {
                    "orders.inbox_messages": int(i * 180 * (2 + drift.get("rows", 0) * i)),
                    "orders.outbox_backlog": 3,
                },
            }
        )
    return out


def test_flat_samples_pass() -> None:
    assert soak.verdict(samples(), rate=6.0) == []


def test_each_drift_fails_with_its_reason() -> None:
    assert soak.verdict(samples(rss=10), rate=6.0)[0].startswith("rss orders")
    assert soak.verdict(samples(p99=40), rate=6.0)[0].startswith("p99")
    assert soak.verdict(samples(rows=1), rate=6.0)[0].startswith("orders.inbox_messages")
    stuck = samples()
    stuck[-1]["stuck"] = 2
    assert soak.verdict(stuck, rate=6.0) == ["orders stuck: up to 2"]


def test_too_few_samples_fail() -> None:
    assert soak.verdict(samples(3), rate=6.0) == ["too few samples after the warm-up"]
