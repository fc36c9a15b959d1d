"""What ``make bench-saga`` prints and keeps: the CPU table, py-spy profiles, summary, JSON.

Profiles are py-spy's raw (collapsed stack) format, one file per process, ready for any
flamegraph tool (``flamegraph.pl``, speedscope); the top self-time frames are printed too.
Results go to ``.data/bench/saga-<UTC time>.json`` (git-ignored) for docs/benchmarks.md to quote.
"""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import cpu
from stack import say


def by_process(ms: dict[str, float], orders: float) -> dict[str, dict[str, float]]:
    """ms per order by owning process: its own CPU and its PostgreSQL backends'."""
    rows: dict[str, dict[str, float]] = defaultdict(lambda: {"own": 0.0, "pg_backends": 0.0})
    for label, value in ms.items():
        owner = cpu.owner_of(label)
        rows[owner]["own" if label == owner else "pg_backends"] += value / orders
    for row in rows.values():
        row["total"] = row["own"] + row["pg_backends"]
    return dict(sorted(rows.items(), key=lambda item: -item[1]["total"]))


def totals(ms: dict[str, float], orders: float, ours: list[str]) -> dict[str, float]:
    """ms per order of the stack and of its parts."""
    pg = sum(v for label, v in ms.items() if label.startswith("postgres") and cpu.in_stack(label))
    return {
        "our processes (own)": sum(ms.get(name, 0.0) for name in ours) / orders,
        "PostgreSQL (all backends and background)": pg / orders,
        "Kafka": ms.get("kafka", 0.0) / orders,
        "Redis": ms.get("redis", 0.0) / orders,
        "stack": cpu.stack_ms(ms) / orders,
    }


def print_table(rows: dict[str, dict[str, float]], sums: dict[str, float]) -> None:
    head = "process (ms of CPU per confirmed order)"
    say(f"  {head:<42} {'own':>7} {'+backends':>10} {'total':>7}")
    outside = {name: row for name, row in rows.items() if name in cpu.OUTSIDE}
    for name, row in rows.items():
        if name not in cpu.OUTSIDE:
            say(f"  {name:<42} {row['own']:7.2f} {row['pg_backends']:10.2f} {row['total']:7.2f}")
    for name, value in sums.items():
        say(f"  {'= ' + name:<61} {value:7.2f}")
    for name, row in outside.items():
        what = {"bench": "load generator (this process)", "other": "other databases' backends"}
        say(f"  {'(not counted) ' + what.get(name, name):<61} {row['total']:7.2f}")


# -- py-spy -------------------------------------------------------------------------------------


def hottest(rows: dict[str, dict[str, float]], ours: list[str], n: int) -> list[str]:
    """The ``n`` Python processes of ours with the most CPU of their own per order."""
    return sorted(ours, key=lambda name: -rows.get(name, {"own": 0.0})["own"])[:n]


def profile_files(names: list[str], out: Path, stamp: str) -> dict[str, Path]:
    """Where each process's profile goes: ``<out>/saga-<stamp>-<name>.txt``."""
    out.mkdir(parents=True, exist_ok=True)
    return {name: out / f"saga-{stamp}-{name}.txt" for name in names}


async def record_profiles(pids: dict[str, int], seconds: float, files: dict[str, Path]) -> None:
    """py-spy record (raw format, 100 Hz, on-CPU samples only) of each process at once."""
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    procs = [
        await asyncio.create_subprocess_exec(
            py_spy, "record", "-p", str(pid), "-f", "raw", "-r", "100", "-d", f"{seconds:.0f}",
            "-o", str(files[name]),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        for name, pid in pids.items()
    ]  # fmt: skip
    results = await asyncio.gather(*(p.communicate() for p in procs))
    for name, proc, (_, err) in zip(pids, procs, results, strict=True):
        if proc.returncode:
            say(f"  ! py-spy on {name} failed ({proc.returncode}): {err.decode()[-300:]}")


#: Self time of the loop runner is C code the event loop calls without a Python frame above it:
#: uvloop and libuv, asyncpg's and httptools' protocol parsers, aiokafka's record decoding.
_LOOP_RUNNER = "Runner.run (asyncio/runners.py"


def top_frames(path: Path, n: int = 6) -> list[tuple[str, float]]:
    """The ``n`` frames with the most self samples in a raw py-spy profile, with their share."""
    self_samples: Counter[str] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            frame = stack.rsplit(";", 1)[-1]
            if frame.startswith(_LOOP_RUNNER):
                frame = "(C under the event loop: uvloop, asyncpg/httptools protocols, ...)"
            self_samples[frame] += int(count)
    total = sum(self_samples.values()) or 1
    return [(frame, count / total) for frame, count in self_samples.most_common(n)]


# -- the summary and the JSON ---------------------------------------------------------------


def _clean(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else ("inf" if math.isinf(value) else round(value, 3))
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(out: Path, stamp: str, results: dict[str, Any]) -> Path:
    """``results`` as ``<out>/saga-<stamp>.json`` (nan as null, inf as "inf")."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"saga-{stamp}.json"
    path.write_text(json.dumps(_clean(results), indent=2) + "\n")
    return path


def git_state(root: Path) -> dict[str, Any]:
    """The commit the run measured and how many files differed from it (other sessions' work)."""

    def git(*args: str) -> str:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            ["git", *args],  # noqa: S607 - git from PATH, as make runs it
            cwd=root, capture_output=True, text=True, check=False,
        )  # fmt: skip
        return done.stdout.strip()

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "changed_files": len(git("status", "--porcelain").splitlines()),
    }


def summary(
    r: dict[str, Any], cap: float, at_cap: dict[str, Any] | None, over: dict[str, Any]
) -> str:
    """The last line: the figures of issue 10 (kept in ``r["summary"]`` too)."""
    cpu_per_order = at_cap["cpu"]["ms_per_order"] if at_cap else math.nan
    post_ms = at_cap["cpu"]["post_ms_per_post"] if at_cap else math.nan
    goodput = over["confirmed_in_window"] / over["duration_s"] / cap if cap else math.nan
    bare, get = r["bare"], r["gateway_get"]
    values = {
        "cpu_ms_per_order": f"{cpu_per_order:.1f}",
        "order_vs_bare": f"{cpu_per_order / bare['insert_cpu_ms']:.1f}",
        "capacity_orders_per_s": f"{cap:.0f}",
        "goodput_ratio": f"{goodput:.2f}",
        "accepted_p99_ms": f"{over['p99_ms']:.0f}",
        "shed_p99_ms": f"{over['refused_p99_ms']:.1f}",
        "gateway_cpu_vs_bare": f"{get['gateway_cpu_ms'] / bare['get_cpu_ms']:.2f}",
        "post_cpu_vs_bare": f"{post_ms / bare['insert_cpu_ms']:.2f}",
        "lost": str(sum(over["never_terminal"].values())),
    }
    r["summary"] = values
    return "summary: " + " ".join(f"{k}={v}" for k, v in values.items())
