"""``make bench-saga``: what an order costs the whole stack, how many it carries, how it overloads.

Runs against the stack of ``make up`` (gateway on :8000), every phase from an idle stack:

1. idle: the stack's CPU doing nothing, by process, over ``--idle-seconds`` (subtracted from
   every figure below: all CPU figures are marginal).
2. closed loop (wrk, closed.py): CPU per request of a bare FastAPI + asyncpg insert and of a bare
   GET; of ``GET /v1/orders/{id}`` through the gateway; of ``POST /v1/orders`` (gateway +
   orders-api + their PostgreSQL backends; the saga's downstream cost apart).
3. capacity (capacity.py, load.py): open-loop orders at stepped rates (``--rungs``, then a
   bisection) for ``--step-seconds`` each, after an unscored ``--lead-in-seconds`` (3) at the
   same rate; a step passes when every scored order is confirmed with placed -> confirmed p99
   <= ``--bound-ms``. The best rate is then run for ``--final-seconds`` (60): the capacity is
   the highest rate passing such a run, and the CPU per confirmed order of that run (lead-in
   included, from its start until the stack is idle again) is ``cpu_ms_per_order``.
4. profiles (``--profile N``): py-spy of the N hottest processes of ours, in a run of their
   own at the capacity rate (so the profiler's cost does not touch the figures).
5. overload: ``--overload-factor`` (2) x capacity for ``--overload-seconds`` (60); goodput,
   latencies of accepted and refused requests; after ``--drain-seconds`` every accepted order
   not seen terminal on the topic is read by GET: ``lost`` are the ones still not terminal.

The last line is exactly ``summary: cpu_ms_per_order=<x> order_vs_bare=<x>
capacity_orders_per_s=<x> goodput_ratio=<x> accepted_p99_ms=<x> shed_p99_ms=<x>
gateway_cpu_vs_bare=<x> post_cpu_vs_bare=<x> lost=<n>``. Everything measured goes to
``.data/bench/saga-<UTC time>.json``. ``--quick`` shrinks every phase (a smoke run of ~3
minutes, not for the record).
"""

from __future__ import annotations

import argparse
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

import capacity
import httpx
import report
import uvloop
from phases import GATEWAY, ROOT, Bench
from stack import say

QUICK = {
    "tenants": 8, "idle_seconds": 5, "wrk_seconds": 4, "post_limit": 300,
    "rungs": "10,20,40", "step_seconds": 10, "bisections": 1, "final_seconds": 20,
    "confirm_tries": 1, "overload_seconds": 15, "drain_seconds": 20, "settle_max": 30,
}  # fmt: skip


async def main(args: argparse.Namespace) -> None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    say(
        f"bench-saga {stamp} on {platform.node()} ({os.cpu_count()} cores, load "
        f"{os.getloadavg()[0]:.2f}); gateway {GATEWAY}"
        + ("; --quick: a smoke run, not for the record" if args.quick else "")
    )
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        try:
            (await http.get("/health/ready")).raise_for_status()
        except httpx.HTTPError as exc:
            raise SystemExit(f"the stack is not running ({exc!r}): run `make up` first") from exc
        bench = Bench(args, http)
        bench.results.update(
            stamp=stamp,
            args=vars(args),
            git=report.git_state(ROOT),
            load_at_start=os.getloadavg()[0],
        )
        try:
            await bench.closed_loop(await bench.setup())
            cap, at_cap = await bench.capacity()
            if at_cap is not None:
                rows, sums = at_cap["cpu"]["by_process"], at_cap["cpu"]["totals"]
                say(f"   per process at {at_cap['rate']:.0f}/s{'' if cap else ' (a failed run)'}:")
                report.print_table(rows, sums)
                post_side, post_ms = at_cap["cpu"]["post_side"], at_cap["cpu"]["post_ms_per_post"]
                say(f"   per POST /v1/orders, {' + '.join(post_side)} + backends: {post_ms:.2f} ms")
                if args.profile:
                    await bench.profiles(cap or at_cap["rate"], rows)
            floor = float(args.rungs.split(",")[0])
            over = await bench.overload(args.overload_factor * (cap or floor))
            line = report.summary(bench.results, cap, at_cap, over)
        except BaseException as exc:
            bench.results["error"] = repr(exc)  # what was measured is kept all the same
            raise
        finally:
            await bench.terminals.stop()
            await bench.client.aclose()
            path = report.write_json(Path(args.out), stamp, bench.results)
            say(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        say(line)


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add = p.add_argument
    add("--tenants", type=int, default=20, help="orgs signed up for the run (20)")
    add("--idle-seconds", type=float, default=10, help="idle CPU measured over (10)")
    add("--wrk-seconds", type=float, default=8, help="each closed-loop round (8)")
    add("--wrk-connections", type=int, default=16, help="wrk connections (16)")
    add(
        "--post-limit",
        type=int,
        default=1500,
        help="at most this many POSTs in the POST round (1500)",
    )
    add(
        "--rungs", default=",".join(f"{r:g}" for r in capacity.DEFAULT_RUNGS), help="rates to climb"
    )
    add("--bisections", type=int, default=2, help="bisection steps after the first failure (2)")
    add("--step-seconds", type=float, default=20, help="each search step (20)")
    add("--final-seconds", type=float, default=60, help="the run that confirms the capacity (60)")
    add("--confirm-tries", type=int, default=2, help="final runs, stepping down 15%% each (2)")
    add("--rate", type=float, help="skip the search: confirm this rate (stepping down on failure)")
    add("--lead-in-seconds", type=float, default=3, help="unscored lead-in of each step (3)")
    add("--bound-ms", type=float, default=300, help="placed -> confirmed p99 bound (300)")
    add("--overload-factor", type=float, default=2, help="overload rate / capacity (2)")
    add("--overload-seconds", type=float, default=60, help="overload run (60)")
    add("--drain-seconds", type=float, default=60, help="wait for outstanding orders at most (60)")
    add("--profile", type=int, default=0, metavar="N", help="py-spy the N hottest processes")
    add("--profile-seconds", type=float, default=20, help="py-spy duration (20)")
    add("--settle-max", type=float, default=90, help="wait for an idle stack at most (90 s)")
    add("--out", default=str(ROOT / ".data" / "bench"), help="results folder (.data/bench)")
    add("--quick", action="store_true", help="a ~3 minute smoke run, not for the record")
    if p.parse_args().quick:  # the quick values, under whatever is given explicitly
        p.set_defaults(**QUICK)
    return p.parse_args()


if __name__ == "__main__":
    uvloop.run(main(parse()))
