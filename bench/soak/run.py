"""``make soak``: orders at half of capacity for a long while; nothing may grow without bound.

Run inside the namespace of tests/faults/in-netns.sh (the make target does), so the stack is
its own. Orders go through /v1 at ``--rate`` per second (open loop, tests/faults/saga.py) for
``--minutes``; every ``--every`` seconds one sample: the resident memory of every process of
the stack (pid files under $ORDO_DATA/run), placed -> confirmed p50/p99 of the orders confirmed
since the last sample (orders' own timestamps), the rows of inbox, outbox (and its unpublished
backlog) and idempotency keys of each service, and orders older than a minute not yet terminal.

Bounds, comparing the samples after ``--warmup`` minutes: RSS of each process at the end
<= 1.25 x its first value + 32 MiB; p99 of the last quarter <= max(1.5 x the first quarter's,
first + 100 ms); table rows added per confirmed order in the last quarter <= 1.3 x the first
quarter's + 1 (linear in orders: bounded by their retention, never by accident); the outbox
backlog <= 5 s of orders; no order stuck. One ``sample`` line per sample, ``soak: PASS|FAIL``
at the end with the reasons; the samples as JSON in .data/bench/soak-<UTC time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess  # nosec B404: psql through the project's own script, fixed arguments
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "faults"))
from saga import GATEWAY, Load, sign_up  # noqa: E402

DATA = Path(os.environ.get("ORDO_DATA", ROOT / ".data"))
SERVICES = ("identity", "catalog", "orders", "payments", "notifications")
TABLES = ("inbox_messages", "outbox", "idempotency_keys")
#: Tenants are signed up afresh this often: access tokens live 10 minutes.
TENANT_EVERY_S = 300.0


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def psql(database: str, sql: str) -> str:
    out = subprocess.run(  # noqa: S603  # nosec B603 - fixed arguments, our own SQL
        [str(ROOT / "infra/postgres/ctl.sh"), "psql", "-d", database, "-At", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return out.stdout.strip()


def rss_mib() -> dict[str, float]:
    found: dict[str, float] = {}
    for pid_file in sorted((DATA / "run").glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
            status = Path(f"/proc/{pid}/status").read_text()
        except (OSError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                found[pid_file.stem] = int(line.split()[1]) / 1024
    return found


def tables(present: dict[str, set[str]]) -> dict[str, int]:
    """Rows of TABLES (and the outbox backlog) per service: one query per database."""
    rows: dict[str, int] = {}
    for service, names in present.items():
        columns = {
            f"{service}.{t}": f"(SELECT count(*) FROM {t})"  # noqa: S608  # nosec B608 - one of TABLES
            for t in TABLES
            if t in names
        }
        if "outbox" in names:
            backlog = "(SELECT count(*) FROM outbox WHERE published_at IS NULL)"
            columns[f"{service}.outbox_backlog"] = backlog
        if columns:
            query = "SELECT " + ", ".join(columns.values())  # nosec B608 - TABLES
            counts = psql(f"ordo_{service}", query).split("|")
            rows.update(zip(columns, map(int, counts), strict=True))
    return rows


def present_tables() -> dict[str, set[str]]:
    return {s: set(psql(f"ordo_{s}", "SELECT tablename FROM pg_tables").split()) for s in SERVICES}


_LATENCY = "extract(epoch FROM confirmed_at - placed_at)"


def latencies(since: datetime) -> dict[str, Any]:
    line = psql(
        "ordo_orders",
        f"SELECT count(*), "  # noqa: S608 - our own timestamp below
        f"coalesce(percentile_cont(0.5) WITHIN GROUP (ORDER BY {_LATENCY}), 0), "
        f"coalesce(percentile_cont(0.99) WITHIN GROUP (ORDER BY {_LATENCY}), 0) "
        f"FROM orders WHERE confirmed_at > '{since.isoformat()}'",  # nosec B608
    )
    confirmed, p50, p99 = line.split("|")
    stuck = psql(
        "ordo_orders",
        "SELECT count(*) FROM orders WHERE status NOT IN ('confirmed', 'rejected', 'cancelled') "
        "AND placed_at < now() - interval '60 seconds'",
    )
    return {
        "confirmed": int(confirmed),
        "p50_ms": float(p50) * 1000,
        "p99_ms": float(p99) * 1000,
        "stuck": int(stuck),
    }


async def sample(since: datetime, started: float, present: dict[str, set[str]]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    now = datetime.now(UTC)
    rows = await loop.run_in_executor(None, tables, present)
    lat = await loop.run_in_executor(None, latencies, since)
    return {
        "t_s": round(time.monotonic() - started),
        "at": now.isoformat(),
        **lat,
        "rss_mib": rss_mib(),
        "rows": rows,
    }


def verdict(samples: list[dict[str, Any]], rate: float) -> list[str]:
    """Reasons to fail (empty: pass); ``samples`` are those after the warm-up."""
    if len(samples) < 4:
        return ["too few samples after the warm-up"]
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    reasons = []
    for name, start in samples[0]["rss_mib"].items():
        end = samples[-1]["rss_mib"].get(name, 0.0)
        if end > 1.25 * start + 32:
            reasons.append(f"rss {name} {start:.0f} -> {end:.0f} MiB")
    p99_first = statistics.median(s["p99_ms"] for s in first)
    p99_last = statistics.median(s["p99_ms"] for s in last)
    if p99_last > max(1.5 * p99_first, p99_first + 100):
        reasons.append(f"p99 {p99_first:.0f} -> {p99_last:.0f} ms")
    for table in samples[0]["rows"]:
        if table.endswith("outbox_backlog"):
            worst = max(s["rows"][table] for s in samples)
            if worst > 5 * rate + 10:
                reasons.append(f"{table} up to {worst} rows")
            continue
        early = _per_order(first, table)
        late = _per_order(last, table)
        if late > 1.3 * early + 1:
            reasons.append(f"{table} rows per order {early:.2f} -> {late:.2f}")
    if any(s["stuck"] for s in samples):
        reasons.append(f"orders stuck: up to {max(s['stuck'] for s in samples)}")
    return reasons


def _per_order(window: list[dict[str, Any]], table: str) -> float:
    added = window[-1]["rows"][table] - window[0]["rows"][table]
    confirmed = sum(s["confirmed"] for s in window[1:]) or 1
    return added / confirmed


async def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    samples: list[dict[str, Any]] = []
    present = present_tables()
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=10.0) as http:
        tenants = [await sign_up(http, skus=3, on_hand=1_000_000) for _ in range(2)]
        load = Load(http, tenants, args.rate, cancel_share=0.05)
        placing = asyncio.create_task(load.run(args.minutes * 60))
        since = datetime.now(UTC)
        next_tenants = time.monotonic() + TENANT_EVERY_S
        while not placing.done():
            await asyncio.wait({placing}, timeout=args.every)
            if time.monotonic() > next_tenants:
                load.tenants = [await sign_up(http, skus=3, on_hand=1_000_000) for _ in range(2)]
                next_tenants = time.monotonic() + TENANT_EVERY_S
            point = await sample(since, started, present)
            since = datetime.fromisoformat(point["at"])
            samples.append(point)
            rows = point["rows"]
            say(
                f"sample t={point['t_s']}s confirmed={point['confirmed']} "
                f"p50_ms={point['p50_ms']:.0f} p99_ms={point['p99_ms']:.0f} stuck={point['stuck']} "
                f"rss_mib={sum(point['rss_mib'].values()):.0f} "
                f"inbox={sum(v for k, v in rows.items() if k.endswith('inbox_messages'))} "
                f"outbox={sum(v for k, v in rows.items() if k.endswith('.outbox'))} "
                f"backlog={sum(v for k, v in rows.items() if k.endswith('outbox_backlog'))} "
                f"idem={sum(v for k, v in rows.items() if k.endswith('idempotency_keys'))}"
            )
        await load.wait()
    measured = [s for s in samples if s["t_s"] >= args.warmup * 60]
    reasons = verdict(measured, args.rate)
    out = ROOT / ".data" / "bench" / f"soak-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({"args": vars(args), "samples": samples, "reasons": reasons}, indent=1)
    )
    say(
        f"soak: {'PASS' if not reasons else 'FAIL'} minutes={args.minutes} rate={args.rate}/s "
        f"accepted={len(load.accepted)} unanswered={load.unanswered} samples={len(measured)} "
        f"answers={','.join(f'{k}:{v}' for k, v in sorted(load.answers.items()))} "
        f"({'; '.join(reasons) or 'RSS, p99 and table growth per order flat'}) -> {out}"
    )
    return 0 if not reasons else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--rate", type=float, default=6.0, help="orders/s: half of capacity (12/s)")
    p.add_argument("--every", type=float, default=30.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=2.0, help="minutes left out of the bounds")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
