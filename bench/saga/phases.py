"""The phases of one ``make bench-saga`` run (run.py says what each measures and the CLI).

``Bench`` holds the stack's handles (CPU accountant, tenants, topic reader, HTTP clients) and
collects every figure into ``results``; each phase starts from an idle stack (``settle``).
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import capacity
import closed
import cpu
import httpx
import procs
import report
from http1 import Http1Client
from load import OrderLoad, Run, Send, Terminals
from stack import Idle, Tenant, check_limits, keep_fresh, measure_idle, say, settle, sign_up

from shared.testing import resolve_endpoints

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("ORDO_BENCH_GATEWAY_URL", "http://127.0.0.1:8000")


class Bench:
    """One run: the stack's handles and everything measured so far (``results``)."""

    def __init__(self, args: argparse.Namespace, http: httpx.AsyncClient) -> None:
        self.args, self.http = args, http
        self.accountant = cpu.Accountant(ROOT, extra={"bench": os.getpid()})
        self.ours = list(procs.procfiles(ROOT))
        self.endpoints = resolve_endpoints(ROOT)
        self.terminals = Terminals()
        gateway = urlsplit(GATEWAY)
        self.client = Http1Client(gateway.hostname or "127.0.0.1", gateway.port or 80)
        self.tenants: list[Tenant] = []
        self.idle = Idle({})
        self.results: dict[str, Any] = {}

    @property
    def load(self) -> OrderLoad:
        return OrderLoad(self.client, self.tenants, self.terminals)

    async def settle(self) -> cpu.Snapshot:
        await keep_fresh(self.http, self.tenants)
        snapshot, waited, busiest = await settle(
            self.accountant, self.idle, give_up_s=self.args.settle_max
        )
        if waited > 10:
            say(f"   (waited {waited:.0f} s for the stack to be idle; before: {busiest})")
        return snapshot

    # -- setup and idle ---------------------------------------------------------------------

    async def setup(self) -> Send:
        """Tenants, the topic reader, a warm-up; the stack's idle CPU. An order to GET."""
        self.tenants = [
            await sign_up(self.http, stock=10_000_000) for _ in range(self.args.tenants)
        ]
        await self.terminals.start(self.endpoints.kafka_bootstrap)
        top = max(float(r) for r in self.args.rungs.split(",")) * self.args.overload_factor
        say(check_limits(ROOT, top, len(self.tenants)))
        warm = await self.load.run(rate=10, duration=3)  # JWKS caches, pools, connections
        await self.load.wait_outcomes(warm, 30)
        if not warm.accepted:
            raise SystemExit(f"the warm-up placed no order: {capacity.summarize(warm, {})}")
        _, waited, busiest = await settle(self.accountant, None, give_up_s=self.args.settle_max)
        if waited > 10:
            say(f"   (waited {waited:.0f} s for a steady stack; before: {busiest})")
        self.idle = await measure_idle(self.accountant, self.args.idle_seconds)
        self.results["idle_ms_per_s"] = dict(sorted(self.idle.rate.items()))
        say(f"1. idle stack: {self.idle.total:.0f} ms of CPU per second")
        return warm.accepted[0]

    # -- closed loop ------------------------------------------------------------------------

    async def wrk(self, url: str, args: list[str]) -> closed.Closed:
        a = self.args
        return await closed.wrk(
            self.accountant, self.idle, url, args,
            connections=a.wrk_connections, seconds=a.wrk_seconds,
        )  # fmt: skip

    async def closed_loop(self, order: Send) -> None:
        """CPU per request: bare insert and GET, GET and POST through the gateway."""
        a = self.args
        say(f"2. closed loop (wrk, {a.wrk_connections} connections, {a.wrk_seconds:.0f} s each)")
        async with closed.bare_server(self.endpoints.postgres_admin_dsn, self.accountant) as url:
            await self.settle()
            body = closed.Files.write([])
            try:
                insert = await self.wrk(f"{url}/orders", [str(body.body)])
            finally:
                body.remove()
            get = await self.wrk(f"{url}/orders/{uuid.uuid4()}", ["GET"])
        self.results["bare"] = bare = closed.bare_costs(insert, get)
        await self.settle()
        owner = closed.Files.write([self.tenants[order.tenant]])
        try:
            get = await closed.wrk_served(
                self.accountant, self.idle,
                f"{GATEWAY}/v1/orders/{order.order_id}", ["GET", str(owner.tokens)],
                connections=a.wrk_connections, seconds=a.wrk_seconds, settle=self.settle,
            )  # fmt: skip
        finally:
            owner.remove()
        api = procs.api_processes(ROOT, ("gateway", "orders"))
        self.results["gateway_get"] = proxied = closed.gateway_get_costs(
            get, api["gateway"], api["orders"]
        )
        start = await self.settle()
        files = closed.Files.write(self.tenants)
        try:
            args = [str(files.body), str(files.tokens), str(a.post_limit)]
            posted = await self.wrk(f"{GATEWAY}/v1/orders", args)
        finally:
            files.remove()
        to_idle = cpu.usage(start, await self.settle())
        post_side = (api["gateway"], api["orders"])
        self.results["post"] = post = closed.post_costs(posted, to_idle, self.idle, post_side)
        for line in closed.describe(bare, proxied, post):
            say(f"   {line}")
        if api["orders"] == "orders":
            post["note"] = "orders runs all its roles in one process: its saga work is counted"
            say(f"   note: {post['note']} in the POST figure for the orders placed in the window")

    # -- open loop --------------------------------------------------------------------------

    async def step(self, rate: float, seconds: float, *, bound: bool = True) -> dict[str, Any]:
        """One open-loop run from an idle stack, to an idle stack; its result with CPU/order."""
        start = await self.settle()
        bound_ms = self.args.bound_ms if bound else None
        lead_in = self.args.lead_in_seconds
        run = await self.load.run(rate, seconds, lead_in=lead_in, latency_bound_ms=bound_ms)
        await self.load.wait_outcomes(run, self.args.drain_seconds, latency_bound_ms=bound_ms)
        pending = {} if run.aborted else await self.load.check_missing(run)
        result = capacity.summarize(run, self.terminals.seen)
        result["never_terminal"] = pending
        used = cpu.usage(start, await self.settle())
        result["cpu"] = self._cpu(run, used)
        return result

    def _cpu(self, run: Run, used: cpu.Usage) -> dict[str, Any]:
        seen = self.terminals.seen
        confirmed = [
            s for s in run.all_accepted if seen.get(s.order_id or "", ("",))[0] == "confirmed"
        ]
        orders = len(confirmed)
        ms = cpu.marginal(used, self.idle.rate)
        per = orders or math.nan  # no order confirmed: no cost per order
        api = procs.api_processes(ROOT, ("gateway", "orders"))
        post_side = (api.get("gateway", ""), api.get("orders", ""))
        return {
            "window_s": round(used.seconds, 1),
            "foreign_ms_per_s": used.foreign_rate(),
            "orders": orders,
            "ms_per_order": cpu.stack_ms(ms) / per,
            # Every POST of the run was answered 201 when it passed: nothing shed, nothing
            # overloaded, which a closed loop cannot promise (saga backpressure refuses it).
            "post_side": post_side,
            "post_ms_per_post": cpu.sum_for(ms, post_side) / (len(run.all_accepted) or math.nan),
            "by_process": report.by_process(ms, per),
            "totals": report.totals(ms, per, self.ours),
            "warnings": used.warnings,
        }

    async def capacity(self) -> tuple[float, dict[str, Any] | None]:
        """The capacity, and the full-length run that measured the CPU per order."""
        a = self.args
        say(f"3. capacity: steps of {a.step_seconds:.0f} s, p99 <= {a.bound_ms:.0f} ms")
        ladder = capacity.Ladder(tuple(float(r) for r in a.rungs.split(",")), a.bisections)
        steps = []
        while a.rate is None and (rate := ladder.next()) is not None:
            steps.append(result := await self.step(rate, a.step_seconds))
            ladder.record(rate, self._say_step(result))
        final: list[dict[str, Any]] = []
        self.results["capacity"] = {"steps": steps, "final": final, "orders_per_s": 0.0}
        rate = a.rate or ladder.passed
        if not rate and ladder.tried:
            # Nothing passed: still measure the CPU per order, at the lowest rate tried.
            low = min(r for r, _ in ladder.tried)
            say(f"   no rate passed: {a.final_seconds:.0f} s at {low:.0f}/s for the CPU per order")
            final.append(result := await self.step(low, a.final_seconds, bound=False))
            if self._say_step(result):  # a full-length run that passes all the same
                self.results["capacity"]["orders_per_s"] = low
                return low, result
        for _ in range(a.confirm_tries if rate else 0):
            say(f"   confirming {rate:.0f}/s for {a.final_seconds:.0f} s")
            final.append(result := await self.step(rate, a.final_seconds))
            if self._say_step(result):
                self.results["capacity"]["orders_per_s"] = rate
                return rate, result
            if not (rate := capacity.step_down(rate)):
                break
        return 0.0, final[-1] if final else None

    def _say_step(self, result: dict[str, Any]) -> bool:
        ok = capacity.passes(result, self.args.bound_ms)
        verdict = "pass" if ok else "FAIL"
        say(
            f"   {result['rate']:.0f}/s x {result['duration_s']:.0f} s: {verdict}: "
            f"{capacity.describe(result)}; {result['cpu']['ms_per_order']:.1f} ms CPU/order "
            f"(other sessions: {result['cpu']['foreign_ms_per_s']:.0f} ms/s)"
        )
        for warning in result["cpu"]["warnings"]:
            say(f"   ! {warning}")
        return ok

    async def profiles(self, rate: float, rows: dict[str, dict[str, float]]) -> None:
        a = self.args
        names = report.hottest(rows, self.ours, a.profile)
        pids = {name: pid for name, pid in procs.stack_pids(ROOT).items() if name in names}
        say(f"4. py-spy: {', '.join(names)} for {a.profile_seconds:.0f} s at {rate:.0f}/s")
        await self.settle()
        files = report.profile_files(list(pids), Path(a.out), self.results["stamp"])
        recording = asyncio.create_task(report.record_profiles(pids, a.profile_seconds, files))
        run = await self.load.run(rate, a.profile_seconds + 2)
        await recording
        await self.load.wait_outcomes(run, a.drain_seconds)
        self.results["profiles"] = {}
        for name, path in files.items():
            if not path.exists():
                continue
            top = report.top_frames(path)
            self.results["profiles"][name] = {"file": path, "top_self": top}
            say(f"   {name}: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
            for frame, share in top[:4]:
                say(f"      {share:6.1%}  {frame[:110]}")

    async def overload(self, rate: float) -> dict[str, Any]:
        a = self.args
        seconds, drain = a.overload_seconds, a.drain_seconds
        say(f"5. overload: {rate:.0f}/s for {seconds:.0f} s, then a drain of <= {drain:.0f} s")
        start = await self.settle()
        run = await self.load.run(rate, seconds)
        waited = await self.load.wait_outcomes(run, drain)
        pending = await self.load.check_missing(run)
        result = capacity.summarize(run, self.terminals.seen)
        result.update(never_terminal=pending, drained_s=round(waited, 1))
        # Until idle again: the machine is left as it was found, and the CPU is complete.
        result["cpu"] = self._cpu(run, cpu.usage(start, await self.settle()))
        say(
            f"   {capacity.describe(result)}; never terminal: {pending or 0}; "
            f"{result['cpu']['ms_per_order']:.1f} ms CPU per confirmed order "
            f"(other sessions: {result['cpu']['foreign_ms_per_s']:.0f} ms/s)"
        )
        self.results["overload"] = result
        return result
