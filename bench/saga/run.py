"""``make bench-saga``: the order saga under load, and POST /v1/orders beside a bare endpoint.

Runs against the stack of ``make up`` (gateway on :8000), both sides in one run:

1. sustained: orders placed through the gateway at a fixed rate (``--rate``, default 300/s) for
   ``--duration`` seconds (default 60) by tenants signed up for the run; each order's
   placed -> confirmed latency is measured from the moment its POST was sent to the moment its
   ``order.confirmed`` record is read from ``orders.events``. orders/s = orders confirmed /
   duration (orders still unconfirmed 30 s after the last POST count as not confirmed).
2. POST /v1/orders vs bare: closed loop (``--concurrency`` connections, driven by wrk) against
   the gateway's POST /v1/orders and against a bare FastAPI + asyncpg endpoint inserting one
   row (bench/saga/bare.py, its own process and database), interleaved, ``--reps`` rounds of
   ``--window`` seconds each; the medians give the throughput and p99 ratios.

The last line is exactly ``summary: orders_per_s=<x> confirm_p50_ms=<x> confirm_p99_ms=<x>
post_vs_bare_rps=<x> post_vs_bare_p99=<x>`` (one line).
``--quick`` shrinks every section (a smoke run, not for the record).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import socket
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.testing import resolve_endpoints
from shared.testing.plugin import create_database, drop_database

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = os.environ.get("ORDO_BENCH_GATEWAY_URL", "http://127.0.0.1:8000")
CONFIRMED = b"ordo.orders.order.confirmed.v1"
WRK_SCRIPT = Path(__file__).with_name("wrk.lua")
SKU = "BENCH-1"


def say(line: str) -> None:
    """Print a progress or result line at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def pct(values: list[float], q: float) -> float:
    """The q-quantile (0-1) of ``values`` by nearest rank; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


# -- tenants ----------------------------------------------------------------------------------


@dataclass
class Tenant:
    token: str
    org_id: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_up(http: httpx.AsyncClient, stock: int) -> Tenant:
    """A new org with one product and plenty of stock."""
    tag = uuid.uuid4().hex[:12]
    r = await http.post(
        "/v1/auth/signup",
        json={
            "email": f"bench-{tag}@example.com",
            "password": f"bench password {tag}",
            "display_name": "Bench",
            "org_name": f"Bench {tag}",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    tenant = Tenant(r.json()["access_token"], r.json()["org_id"])
    r = await http.post(
        "/v1/products",
        json={"sku": SKU, "name": "Bench", "price": {"amount_minor": 100, "currency": "EUR"}},
        headers={**tenant.headers, "Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    r = await http.put(f"/v1/stock/{SKU}", json={"on_hand": stock}, headers=tenant.headers)
    r.raise_for_status()
    return tenant


ORDER_BODY = {"currency": "EUR", "lines": [{"sku": SKU, "quantity": 1}]}


# -- confirmations from the topic --------------------------------------------------------------


@dataclass
class Confirmations:
    """order id -> monotonic time its order.confirmed record was read."""

    seen: dict[str, float] = field(default_factory=dict)
    task: asyncio.Task[None] | None = None
    consumer: AIOKafkaConsumer | None = None

    async def start(self, bootstrap: str) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        await consumer._client.force_metadata_update()
        partitions = [
            TopicPartition("orders.events", p)
            for p in sorted(consumer.partitions_for_topic("orders.events") or [])
        ]
        consumer.assign(partitions)
        for tp, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(tp, offset)
        self.consumer = consumer

        async def pump() -> None:
            async for record in consumer:
                if any(k == "ce_type" and v == CONFIRMED for k, v in record.headers):
                    self.seen.setdefault(record.key.decode(), time.monotonic())

        self.task = asyncio.create_task(pump())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.consumer:
            await self.consumer.stop()


# -- 1. sustained saga load --------------------------------------------------------------------


async def sustained(
    http: httpx.AsyncClient,
    tenants: list[Tenant],
    bootstrap: str,
    rate: float,
    duration: float,
    *,
    max_in_flight: int = 256,
) -> dict[str, Any]:
    """Open-loop POSTs at ``rate``/s for ``duration`` s; latency to order.confirmed.

    At most ``max_in_flight`` POSTs wait for an answer at once: when the stack cannot keep up,
    the orders that would exceed it are not sent and are counted as ``shed`` (the offered rate
    was above what the stack sustains), so the run ends on time instead of queueing for ever.
    """
    confirmations = Confirmations()
    await confirmations.start(bootstrap)
    sent: dict[str, float] = {}
    errors: dict[int | str, int] = {}
    in_flight: set[asyncio.Task[None]] = set()

    async def one(i: int) -> None:
        tenant = tenants[i % len(tenants)]
        t0 = time.monotonic()
        try:
            r = await http.post(
                "/v1/orders",
                json=ORDER_BODY,
                headers={**tenant.headers, "Idempotency-Key": str(uuid.uuid4())},
            )
        except httpx.HTTPError as exc:
            errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
            return
        if r.status_code != 201:
            errors[r.status_code] = errors.get(r.status_code, 0) + 1
            return
        sent[r.json()["id"]] = t0

    start = time.monotonic()
    i = shed = 0
    while (now := time.monotonic()) - start < duration:
        due = int((now - start) * rate)
        while i < due:
            if len(in_flight) >= max_in_flight:
                shed += 1
            else:
                task = asyncio.create_task(one(i))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            i += 1
        await asyncio.sleep(0.002)
    if in_flight:
        await asyncio.wait(in_flight, timeout=45)
    posted_for = time.monotonic() - start
    drain_deadline = time.monotonic() + 30
    while time.monotonic() < drain_deadline and not set(sent) <= set(confirmations.seen):  # noqa: ASYNC110 - polls a dict the consumer task fills
        await asyncio.sleep(0.2)
    await confirmations.stop()
    latencies = [
        (confirmations.seen[order] - t0) * 1000
        for order, t0 in sent.items()
        if order in confirmations.seen
    ]
    return {
        "offered": i,
        "shed": shed,
        "placed": len(sent),
        "confirmed": len(latencies),
        "errors": errors,
        "posted_for_s": round(posted_for, 1),
        "orders_per_s": len(latencies) / duration,
        "p50_ms": pct(latencies, 0.50),
        "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies, default=float("nan")),
    }


# -- 2. POST /v1/orders vs a bare endpoint -----------------------------------------------------


async def closed_loop(
    url: str, body_file: Path, tokens_file: Path | None, concurrency: int, window: float
) -> dict[str, float]:
    """``concurrency`` connections POSTing back to back for ``window`` s, driven by wrk.

    wrk (C, one thread) rather than a Python client: an httpx closed loop tops out near 300
    requests/s on this machine with its own core saturated, so it would measure itself, not the
    endpoints. With ``tokens_file`` every request carries a tenant's token and a fresh
    Idempotency-Key (bench/saga/wrk.lua). Only 2xx answers count towards the rate.
    """
    args = ["wrk", "-t1", f"-c{concurrency}", f"-d{window:.0f}s", "--timeout", "30s"]
    args += ["-s", str(WRK_SCRIPT), url, "--", str(body_file)]
    if tokens_file is not None:
        args.append(str(tokens_file))
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    lines = [line for line in out.decode().splitlines() if line.startswith("WRK_RESULT ")]
    if proc.returncode or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {(out + err).decode()[-800:]}")
    result = json.loads(lines[0].split(" ", 1)[1])
    seconds = result["duration_us"] / 1e6
    return {
        "rps": (result["requests"] - result["non_2xx"]) / seconds,
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "failures": result["non_2xx"] + result["socket_errors"],
    }


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115
    return fields[3] + fields[4], sum(fields)  # idle + iowait, all


async def settle(min_idle: float = 0.75, within_s: float = 120.0) -> float:
    """Wait until the machine is mostly idle (the saga drained what the last round placed),
    so that each round starts from the same state; returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < within_s:
        idle0, all0 = _cpu_times()
        await asyncio.sleep(1.0)
        idle1, all1 = _cpu_times()
        if (idle1 - idle0) / max(1, all1 - all0) >= min_idle:
            break
    return time.monotonic() - started


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def post_vs_bare(
    tenants: list[Tenant], admin_dsn: str, concurrency: int, window: float, reps: int
) -> dict[str, Any]:
    """Interleave bare and gateway rounds; medians of each side and their ratios."""
    db = f"ordo_bench_bare_{uuid.uuid4().hex[:8]}"
    await create_database(admin_dsn, db)
    dsn = admin_dsn.rsplit("/", 1)[0] + f"/{db}"
    work = Path(tempfile.mkdtemp(prefix="ordo-bench-"))
    body_file, tokens_file = work / "body.json", work / "tokens.txt"
    body_file.write_text(json.dumps(ORDER_BODY))
    tokens_file.write_text("".join(f"{tenant.token}\n" for tenant in tenants))
    tokens_file.chmod(0o600)
    port = free_port()
    bare = await asyncio.create_subprocess_exec(
        sys.executable, str(ROOT / "bench" / "saga" / "bare.py"), str(port), dsn
    )
    try:
        async with httpx.AsyncClient() as probe:
            for _ in range(100):
                try:
                    if (await probe.get(f"http://127.0.0.1:{port}/health/ready")).is_success:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        sides: dict[str, list[dict[str, float]]] = {"bare": [], "post": []}
        for rep in range(reps):
            await settle()
            sides["bare"].append(
                await closed_loop(
                    f"http://127.0.0.1:{port}/orders", body_file, None, concurrency, window
                )
            )
            await settle()
            sides["post"].append(
                await closed_loop(
                    f"{GATEWAY}/v1/orders", body_file, tokens_file, concurrency, window
                )
            )
            say(
                f"  round {rep + 1}: bare {sides['bare'][-1]['rps']:.0f}/s "
                f"p99 {sides['bare'][-1]['p99_ms']:.1f} ms | POST /v1/orders "
                f"{sides['post'][-1]['rps']:.0f}/s p99 {sides['post'][-1]['p99_ms']:.1f} ms "
                f"(failures {sides['post'][-1]['failures']:.0f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        bare.terminate()
        await asyncio.wait_for(bare.wait(), timeout=10)
        await drop_database(admin_dsn, db)
    median = {
        side: {k: statistics.median(r[k] for r in runs) for k in ("rps", "p50_ms", "p99_ms")}
        for side, runs in sides.items()
    }
    return {
        **{f"{side}_{k}": v for side, m in median.items() for k, v in m.items()},
        "rps_ratio": median["post"]["rps"] / median["bare"]["rps"],
        "p99_ratio": median["post"]["p99_ms"] / median["bare"]["p99_ms"],
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=300)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--window", type=float, default=15)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rate, args.duration, args.tenants, args.window, args.reps = 50, 10, 4, 5, 1

    endpoints = resolve_endpoints(ROOT)
    say(
        f"bench-saga {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.node()} "
        f"({os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}); gateway {GATEWAY}"
    )
    limits = httpx.Limits(max_connections=512, max_keepalive_connections=256)
    async with httpx.AsyncClient(base_url=GATEWAY, timeout=30, limits=limits) as http:
        try:
            (await http.get("/health/ready")).raise_for_status()
        except httpx.HTTPError as exc:
            raise SystemExit(f"the stack is not running ({exc!r}): run `make up` first") from exc
        tenants = [await sign_up(http, stock=10_000_000) for _ in range(args.tenants)]
        # Warm up every path (JWKS caches, connection pools) before measuring.
        await sustained(http, tenants, endpoints.kafka_bootstrap, rate=20, duration=3)
        # The closed-loop comparison first: the sustained run can leave a backlog behind.
        say(
            f"2. POST /v1/orders vs bare, {args.concurrency} clients, "
            f"{args.reps}x{args.window:.0f} s, each round from an idle machine"
        )
        post = await post_vs_bare(
            tenants, endpoints.postgres_admin_dsn, args.concurrency, args.window, args.reps
        )
        say("   " + json.dumps({k: round(v, 2) for k, v in post.items()}))
        await settle()
        say(f"1. sustained: {args.rate:.0f} orders/s for {args.duration:.0f} s")
        saga = await sustained(
            http, tenants, endpoints.kafka_bootstrap, rate=args.rate, duration=args.duration
        )
        say("   " + json.dumps(saga, default=str))
    say(
        f"summary: orders_per_s={saga['orders_per_s']:.1f} confirm_p50_ms={saga['p50_ms']:.1f} "
        f"confirm_p99_ms={saga['p99_ms']:.1f} post_vs_bare_rps={post['rps_ratio']:.2f} "
        f"post_vs_bare_p99={post['p99_ratio']:.2f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
