"""Closed-loop CPU comparisons of ``make bench-saga``, driven by wrk: CPU per request, by process.

wrk (C, one thread) rather than a Python client: it costs the measured processes nothing and
barely competes with them. What is compared is CPU per answered request (from /proc, cpu.py,
idle subtracted), not throughput: on two shared cores throughput says as much about the
neighbours as about the endpoint.

- bare (bench/saga/bare.py, its own process and database): ``POST /orders`` (pydantic + one
  asyncpg insert; the process and its PostgreSQL backends) and ``GET /orders/{id}`` (JSON, no IO).
- ``GET /v1/orders/{id}`` through the gateway, one existing order: gateway CPU, orders-api's
  (with its backends) beside it; with fewer connections while the gateway sheds (its admission
  control answers 503), so that what is divided is the CPU of requests served.
- ``POST /v1/orders`` through the gateway (a fresh Idempotency-Key each, bench/saga/wrk.lua),
  at most ``limit`` of them: gateway + orders-api + orders-api's PostgreSQL backends; the saga
  work the POSTs start downstream is reported apart. A closed loop of POSTs outruns the saga,
  whose backpressure then refuses them, so this is the saturated cost; ``post_cpu_vs_bare``
  takes the POST side's CPU from the capacity run instead, where every POST was accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cpu
import httpx
from stack import ORDER_BODY, Idle, Tenant

from shared.testing.plugin import create_database, drop_database

HERE = Path(__file__).resolve().parent


@dataclass
class Closed:
    """One wrk round: its answers and the marginal CPU (ms) by label while it ran."""

    requests: int
    ok: int
    seconds: float
    p50_ms: float
    p99_ms: float
    cpu_ms: dict[str, float]
    warnings: list[str]
    foreign_ms_per_s: float
    connections: int

    def per_request(self, ms: float) -> float:
        return ms / self.ok if self.ok else float("nan")

    def as_dict(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "requests": self.requests,
            "ok": self.ok,
            "rps": round(self.ok / self.seconds, 1),  # over the whole window, even when limited
            "p50_ms": self.p50_ms,
            "p99_ms": self.p99_ms,
            "warnings": self.warnings,
            "foreign_ms_per_s": round(self.foreign_ms_per_s),
        }


async def wrk(
    accountant: cpu.Accountant,
    idle: Idle,
    url: str,
    args: list[str],
    *,
    connections: int,
    seconds: float,
) -> Closed:
    """Run wrk with bench/saga/wrk.lua and ``args``; CPU from just before to just after."""
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "10s"]
    command += ["-s", str(HERE / "wrk.lua"), url, "--", *args]
    before = accountant.snapshot()
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    used = cpu.usage(before, accountant.snapshot())
    lines = [line for line in out.decode().splitlines() if line.startswith("WRK_RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {(out + err).decode()[-800:]}")
    result = json.loads(lines[0].split(" ", 1)[1])
    return Closed(
        requests=result["requests"],
        ok=result["requests"] - result["non_2xx"] - result["socket_errors"],
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        cpu_ms=cpu.marginal(used, idle.rate),
        warnings=used.warnings,
        foreign_ms_per_s=used.foreign_rate(),
        connections=connections,
    )


async def wrk_served(
    accountant: cpu.Accountant,
    idle: Idle,
    url: str,
    args: list[str],
    *,
    connections: int,
    seconds: float,
    settle: Callable[[], Awaitable[object]],
) -> Closed:
    """``wrk``, again with half the connections while over 2% of the answers are not 2xx (the
    gateway's admission control shedding): the CPU of requests served, not of refusals."""
    while True:
        run = await wrk(accountant, idle, url, args, connections=connections, seconds=seconds)
        if run.requests - run.ok <= 0.02 * run.requests or connections == 1:
            return run
        connections //= 2
        await settle()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def bare_server(admin_dsn: str, accountant: cpu.Accountant) -> AsyncIterator[str]:
    """bench/saga/bare.py on a free port with a database of its own; yields its base URL.

    Its pid is counted by ``accountant`` as ``bare`` (and its backends as ``postgres[bare]``).
    """
    db = f"ordo_bench_bare_{uuid.uuid4().hex[:8]}"
    await create_database(admin_dsn, db)
    port = _free_port()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(HERE / "bare.py"), str(port), admin_dsn.rsplit("/", 1)[0] + f"/{db}"
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(150):
                with contextlib.suppress(httpx.TransportError):
                    if (await probe.get(f"{url}/health/ready")).is_success:
                        break
                await asyncio.sleep(0.1)
            else:
                raise SystemExit("the bare server did not start")
        accountant.extra["bare"] = proc.pid
        yield url
    finally:
        accountant.extra.pop("bare", None)
        proc.terminate()
        await asyncio.wait_for(proc.wait(), timeout=10)
        await drop_database(admin_dsn, db)


@dataclass
class Files:
    """The request body and the tenants' tokens, as wrk.lua reads them."""

    body: Path
    tokens: Path

    @classmethod
    def write(cls, tenants: list[Tenant]) -> Files:
        work = Path(tempfile.mkdtemp(prefix="ordo-bench-saga-"))
        (work / "body.json").write_bytes(ORDER_BODY)
        tokens = work / "tokens.txt"
        tokens.touch(mode=0o600)
        tokens.write_text("".join(f"{t.access_token}\n" for t in tenants))
        return cls(work / "body.json", tokens)

    def remove(self) -> None:
        for path in (self.body, self.tokens):
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            self.body.parent.rmdir()


def bare_costs(insert: Closed, get: Closed) -> dict[str, Any]:
    """CPU per request of the bare endpoints (ms): the process, plus its backends for POST."""
    return {
        "insert_cpu_ms": insert.per_request(cpu.sum_for(insert.cpu_ms, ("bare",))),
        "insert_process_ms": insert.per_request(insert.cpu_ms.get("bare", 0.0)),
        "get_cpu_ms": get.per_request(get.cpu_ms.get("bare", 0.0)),
        "insert": insert.as_dict(),
        "get": get.as_dict(),
    }


def gateway_get_costs(run: Closed, gateway: str, orders: str) -> dict[str, Any]:
    """CPU per proxied GET (ms): the gateway's, and orders' API process's with its backends."""
    return {
        "gateway_cpu_ms": run.per_request(run.cpu_ms.get(gateway, 0.0)),
        "orders_api_cpu_ms": run.per_request(cpu.sum_for(run.cpu_ms, (orders,))),
        "stack_cpu_ms": run.per_request(cpu.stack_ms(run.cpu_ms)),
        **run.as_dict(),
    }


def post_costs(
    run: Closed, to_idle: cpu.Usage, idle: Idle, post_side: tuple[str, ...]
) -> dict[str, Any]:
    """CPU per POST (ms): the gateway and orders' API process with their backends while wrk
    ran; and the rest of the stack from the start of the round until it was idle again (the
    saga's work). When one process runs all of orders' roles, its saga work for the POSTs
    answered in the window is in the first figure: it cannot be told apart from /proc."""
    whole = cpu.marginal(to_idle, idle.rate)
    post = cpu.sum_for(whole, post_side)
    return {
        "post_cpu_ms": run.per_request(cpu.sum_for(run.cpu_ms, post_side)),
        "post_side": post_side,
        "by_process_ms": {
            label: round(run.per_request(ms), 3)
            for label, ms in run.cpu_ms.items()
            if cpu.owner_of(label) in post_side
        },
        "downstream_cpu_ms": run.per_request(cpu.stack_ms(whole) - post),
        "until_idle_s": round(to_idle.seconds, 1),
        **run.as_dict(),
    }


def describe(bare: dict[str, Any], get: dict[str, Any], post: dict[str, Any]) -> list[str]:
    """Lines for the progress log."""
    rounds = (bare["insert"], bare["get"], get, post)
    return [
        f"bare: insert {bare['insert_cpu_ms']:.3f} ms/request (process + backends, "
        f"{bare['insert']['rps']:.0f}/s), GET {bare['get_cpu_ms']:.3f} ms "
        f"({bare['get']['rps']:.0f}/s)",
        f"GET /v1/orders/{{id}}: gateway {get['gateway_cpu_ms']:.3f} ms/request, orders-api "
        f"(+backends) {get['orders_api_cpu_ms']:.3f} ms, {get['rps']:.0f}/s with "
        f"{get['connections']} connections, non-2xx {get['requests'] - get['ok']}",
        f"POST /v1/orders, saturating (for post_cpu_vs_bare see the capacity run): gateway + "
        f"orders-api + backends {post['post_cpu_ms']:.3f} ms per 201 {post['by_process_ms']}, "
        f"{post['ok']} placed, non-2xx {post['requests'] - post['ok']}",
        f"the saga those POSTs started: {post['downstream_cpu_ms']:.1f} ms of CPU per order "
        f"downstream (until idle, {post['until_idle_s']:.0f} s)",
        "other sessions used "
        + ", ".join(f"{r['foreign_ms_per_s']}" for r in rounds)
        + " ms/s of CPU during these four rounds",
    ]
