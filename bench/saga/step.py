"""One open-loop step at a chosen rate, with the per-process CPU table: the dev loop of issue 10.

``make bench-saga`` searches the capacity and runs every phase (~6-12 min); when changing one
thing at a time, this measures the CPU per order at one rate in ~1 min, before and after:

    uv run --frozen python bench/saga/step.py --rate 12 --seconds 30 [--profile 3]

Same machinery as the full run (phases.Bench): tenants, the idle stack's CPU subtracted, the
step from an idle stack to an idle stack. Not for the record: use ``make bench-saga`` for that.
"""

from __future__ import annotations

import argparse
import sys

import httpx
import report
import uvloop
from phases import GATEWAY, Bench
from run import parse as full_args


async def main(args: argparse.Namespace) -> None:
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30) as http:
        bench = Bench(args, http)
        bench.results["stamp"] = "step"
        try:
            await bench.setup()
            result = await bench.step(args.step_rate, args.step_seconds, bound=not args.unbound)
            bench._say_step(result)
            report.print_table(result["cpu"]["by_process"], result["cpu"]["totals"])
            if args.profile:
                await bench.profiles(args.step_rate, result["cpu"]["by_process"])
        finally:
            await bench.terminals.stop()
            await bench.client.aclose()


def parse() -> argparse.Namespace:
    own = argparse.ArgumentParser(description=__doc__)
    own.add_argument("--rate", type=float, default=12, help="orders per second (12)")
    own.add_argument("--seconds", type=float, default=30, help="the step's length (30)")
    own.add_argument("--profile", type=int, default=0, help="py-spy the N hottest processes")
    own.add_argument(
        "--unbound", action="store_true", help="run the whole step even past the latency bound"
    )
    mine, _ = own.parse_known_args()
    sys.argv = [sys.argv[0], "--quick", "--rungs", f"{mine.rate:g}", "--profile", str(mine.profile)]
    args = full_args()
    args.step_rate, args.step_seconds, args.unbound = mine.rate, mine.seconds, mine.unbound
    return args


if __name__ == "__main__":
    uvloop.run(main(parse()))
