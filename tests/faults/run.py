"""``make test-faults``: each fault of faults.py in turn, under saga load, then the invariants.

Run inside the namespace of tests/faults/in-netns.sh (the make target does). For each fault: a
fresh tenant (a new org, three SKUs), orders placed through /v1 at ``--rate`` per second for
``--before`` seconds, the fault (which ends with the stack given back what it lost), load for
``--after`` more seconds, then saga.verify: every accepted order terminal, none lost, stock
conserved, at most one authorisation per order, none left held on a cancelled order. One line
per fault; exit status 1 when any fault broke an invariant or could not be run.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

import httpx
from faults import Fault, all_faults
from saga import GATEWAY, Load, sign_up, verify


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def run_one(fault: Fault, args: argparse.Namespace) -> bool:
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=10.0) as http:
        tenant = await sign_up(http, skus=3, on_hand=args.stock)
        load = Load(http, [tenant], args.rate)
        placing = asyncio.create_task(load.run(args.before + args.after))
        await asyncio.sleep(args.before)
        error = ""
        try:
            await fault.inject()
        except Exception as exc:  # reported in the fault line; the suite goes on
            error = f" error={type(exc).__name__}:{str(exc)[:200]!r}"
        await placing
        await load.wait()
        verdict = await verify(http, load)
    answers = ",".join(f"{k}:{v}" for k, v in sorted(load.answers.items()))
    ok = verdict.ok and not error
    say(
        f"fault={fault.name} result={'PASS' if ok else 'FAIL'} accepted={len(load.accepted)} "
        f"orders={sum(verdict.statuses.values())} "
        f"unanswered={load.unanswered} {verdict.line()} answers={answers} "
        f"took_s={time.monotonic() - started:.0f}{error}"
    )
    return ok


async def main(args: argparse.Namespace) -> int:
    chosen = [f for f in all_faults() if not args.only or any(o in f.name for o in args.only)]
    started = time.monotonic()
    results = [await run_one(fault, args) for fault in chosen]
    say(
        f"faults: {sum(results)}/{len(results)} passed in {time.monotonic() - started:.0f} s "
        f"(rate {args.rate}/s)"
    )
    return 0 if all(results) else 1


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rate", type=float, default=4.0, help="orders placed per second")
    p.add_argument("--before", type=float, default=5.0, help="seconds of load before the fault")
    p.add_argument("--after", type=float, default=10.0, help="seconds of load after the fault")
    p.add_argument("--stock", type=int, default=150, help="units of each SKU per tenant")
    p.add_argument("--only", nargs="*", help="run only faults whose name contains one of these")
    return p.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse())))
