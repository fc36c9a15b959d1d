"""``make bench-outbox``: the outbox relay beside its baselines, in one bounded run.

Sections (each measured side in a process of its own, sides interleaved so drift hits all):

1. throughput: raw aiokafka producer vs ``OutboxRelay`` vs faststream-outbox, same records;
2. wake-up cost: writers' commit rate without and with NOTIFY (pgbench, and our writer);
3. latency: commit -> consumer handler at a fixed rate, per wake-up mode;
4. inbox: the idempotent consumer vs the same consumer without its inbox
   (``inbox_ratio.measure_inbox_vs_plain``, written with the inbox; ``n/a`` until it exists).

The last line is exactly
``summary: relay_vs_raw=<x> relay_vs_peer=<x> e2e_p50_ms=<x> e2e_p99_ms=<x> inbox_vs_plain=<x>``.
``--quick`` shrinks every section (a smoke run, not for the record).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import platform
import statistics
import sys
import time
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import Env, drop_env, drop_topics, make_env, new_topic, quiet_logs, run_child

# The summary's latency is the default topology: the relay in its own process, rung by the
# post-commit doorbell (see docs/adr/0001-outbox-relay.md).
DEFAULT_MODE = "doorbell"
PEER = {"max_workers": 32, "fetch_batch_size": 500, "terminal_flush_batch_size": 100}


def say(line: str) -> None:
    """Print a progress or result line at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def throughput(
    env: Env, rows: int, reps: int, peer_reps: int, topics: list[str]
) -> dict[str, Any]:
    """Interleave raw, relay and peer; report the median rate of each.

    The peer is ~20x slower, so it runs ``peer_reps`` times instead of ``reps`` to keep the
    whole benchmark within a few minutes.
    """
    rates: dict[str, list[float]] = {"raw": [], "relay": [], "peer": []}
    for rep in range(reps):
        for side in ("raw", "relay", "peer") if rep < peer_reps else ("raw", "relay"):
            topic = await new_topic(env, side)
            topics.append(topic)
            kwargs = PEER if side == "peer" else {}
            result = run_child(f"throughput:{side}", env, topic=topic, n=rows, **kwargs)
            rates[side].append(result["rate"])
            say(f"  throughput {side:<5} rep {rep + 1}: {result['rate']:>8.0f} rows/s")
    medians = {side: statistics.median(values) for side, values in rates.items()}
    return {"rates": rates, "median": medians}


async def wake_cost(env: Env, seconds: int) -> dict[str, Any]:
    """NOTIFY's cost to writers: pgbench (server-side), then our own writer per mode."""
    result: dict[str, Any] = {}
    for clients in (8, 32):
        cost = run_child("notify_cost:notify_cost", env, clients=clients, seconds=seconds)
        result[f"pgbench_{clients}"] = cost
        if "skipped" in cost:
            say(f"  pgbench: {cost['skipped']}")
            break
        say(
            f"  pgbench {clients:>2} writers: {cost['plain_tps']:>6.0f} tps plain, "
            f"{cost['notify_tps']:>6.0f} tps with pg_notify in the transaction "
            f"({cost['notify_vs_plain']:.2f}x)"
        )
    for mode in ("none", "tx-notify", "doorbell"):
        cost = run_child("latency:writer_cost", env, mode=mode, seconds=seconds)
        result[f"writer_{mode}"] = cost
        say(f"  writer ({mode:<9}): {cost['commits_per_s']:>6.0f} use cases/s")
    return result


async def latency(env: Env, seconds: float, modes: list[str], topics: list[str]) -> dict[str, Any]:
    """Commit -> handler latency at 1,000 events/s for each wake-up mode."""
    result: dict[str, Any] = {}
    for mode in modes:
        topic = await new_topic(env, "latency")
        topics.append(topic)
        run = run_child("latency:e2e", env, topic=topic, mode=mode, seconds=seconds)
        result[mode] = run
        say(
            f"  latency {mode:<10}: p50 {run['p50_ms']:6.1f} ms  p90 {run['p90_ms']:6.1f} ms  "
            f"p99 {run['p99_ms']:6.1f} ms  max {run['max_ms']:6.1f} ms  "
            f"at {run['rate_achieved']:.0f}/s  lost {run['lost']}"
        )
    return result


def inbox_vs_plain() -> str:
    """Call the inbox benchmark if it exists; ``n/a`` otherwise."""
    if not Path(__file__).with_name("inbox_ratio.py").exists():
        say("  inbox: bench/outbox/inbox_ratio.py does not exist yet")
        return "n/a"
    try:
        measure = importlib.import_module("inbox_ratio").measure_inbox_vs_plain
        value = measure()
        if inspect.isawaitable(value):
            value = asyncio.run(value)
        ratio = float(value)
    except Exception:  # report it, keep the rest of the results
        say("  inbox: failed:\n" + traceback.format_exc(limit=3))
        return "n/a"
    say(f"  inbox vs plain: {ratio:.2f}")
    return f"{ratio:.2f}"


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Run sections 1-3 against a scratch database and topics, cleaned up afterwards."""
    env = await make_env()
    topics: list[str] = []
    try:
        t0 = time.monotonic()
        say(f"throughput ({args.rows} records: key, ~256-byte JSON value, CloudEvents headers):")
        tp = await throughput(env, args.rows, args.reps, args.peer_reps, topics)
        t1 = time.monotonic()
        say(f"wake-up cost to writers ({t1 - t0:.0f} s so far):")
        wake = await wake_cost(env, args.cost_seconds)
        t2 = time.monotonic()
        say(
            f"latency (commit -> consumer handler at {args.rate} events/s; {t2 - t0:.0f} s so far):"
        )
        lat = await latency(env, args.seconds, args.modes, topics)
        return {"throughput": tp, "wake": wake, "latency": lat}
    finally:
        await drop_topics(env, topics)
        await drop_env(env)


def main() -> None:
    """Parse arguments, run every section, print the summary as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke run")
    args = parser.parse_args()
    args.rows, args.reps, args.peer_reps, args.seconds, args.cost_seconds = (
        (3000, 1, 1, 3.0, 2) if args.quick else (40000, 3, 2, 10.0, 4)
    )
    args.rate = 1000
    args.modes = [DEFAULT_MODE, "tx-notify", "in-process", "poll"]
    quiet_logs()
    started = time.monotonic()
    say(
        f"bench-outbox {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()}: "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    results = asyncio.run(measure(args))
    say("inbox (idempotent consumer vs the same consumer without the inbox):")
    inbox = inbox_vs_plain()
    median = results["throughput"]["median"]
    e2e = results["latency"][DEFAULT_MODE]
    say(f"done in {time.monotonic() - started:.0f} s; load average now {os.getloadavg()[0]:.1f}")
    say(
        f"summary: relay_vs_raw={median['relay'] / median['raw']:.2f} "
        f"relay_vs_peer={median['relay'] / median['peer']:.2f} "
        f"e2e_p50_ms={e2e['p50_ms']:.1f} e2e_p99_ms={e2e['p99_ms']:.1f} "
        f"inbox_vs_plain={inbox}"
    )


if __name__ == "__main__":
    main()
