"""What the local stack costs in CPU: idle, and per order under a short saga load.

Reads utime + stime from /proc for every process with a pid file in ``$ORDO_DATA/run`` (our
services, in either layout; PostgreSQL's postmaster with all its backends, exited ones included;
Kafka; Redis): first idle for ``--idle-s`` seconds, then while ``--orders`` orders are placed
through the gateway at ``--rate`` per second (by ``--tenants`` tenants signed up first) and
until each is confirmed (its ``order.confirmed`` read from ``orders.events``). Prints one JSON
line: idle cores, CPU ms per confirmed order (idle subtracted), per process, and the services'
resident memory. Refused requests (429/502/503/504) are retried with the same Idempotency-Key.

    .venv/bin/python infra/bin/stack_cpu.py --orders 200 --rate 10

README ("One process per service, or one per role") compares the layouts with it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition

TICK = os.sysconf("SC_CLK_TCK")
DATA = Path(os.environ.get("ORDO_DATA", Path(__file__).resolve().parents[2] / ".data"))
SERVERS = ("postgres", "kafka", "redis")
CONFIRMED = b"ordo.orders.order.confirmed.v1"
RETRIED = (429, 502, 503, 504)
SKU = "STACK-CPU-1"


# -- CPU from /proc ----------------------------------------------------------------------------


def _stat(pid: int) -> tuple[float, int]:
    """(CPU seconds of the process and of its reaped children, parent pid)."""
    raw = Path(f"/proc/{pid}/stat").read_text()
    fields = raw[raw.rindex(")") + 2 :].split()
    return sum(int(x) for x in fields[11:15]) / TICK, int(fields[1])


def _children() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                kids.setdefault(_stat(int(entry.name))[1], []).append(int(entry.name))
            except (OSError, ValueError):
                continue
    return kids


def _tree(pid: int, kids: dict[int, list[int]]) -> float:
    try:
        own = _stat(pid)[0]
    except OSError:
        return 0.0
    return own + sum(_tree(kid, kids) for kid in kids.get(pid, []))


def processes() -> dict[str, int]:
    """Name -> pid of every running process of the stack."""
    found = {}
    for pidfile in (DATA / "run").glob("*.pid"):
        text = pidfile.read_text().split()
        if text and text[0].isdigit() and Path(f"/proc/{text[0]}").exists():
            found[pidfile.stem] = int(text[0])
    return found


def sample() -> dict[str, float]:
    """CPU seconds so far of each process of the stack (with its children)."""
    kids = _children()
    return {name: _tree(pid, kids) for name, pid in processes().items()}


def rss_mb(names: dict[str, int]) -> float:
    """Resident memory of our services (not the servers), in MiB."""
    total = 0
    for name, pid in names.items():
        if name not in SERVERS:
            status = Path(f"/proc/{pid}/status").read_text()
            total += next(int(x.split()[1]) for x in status.splitlines() if x.startswith("VmRSS"))
    return total / 1024


def summed(cpu: dict[str, float]) -> dict[str, float]:
    """Services, each server, and the total."""
    out = {"services": sum(v for k, v in cpu.items() if k not in SERVERS)}
    out |= {k: cpu.get(k, 0.0) for k in SERVERS}
    out["total"] = sum(cpu.values())
    return out


# -- the load ----------------------------------------------------------------------------------


async def sign_up(http: httpx.AsyncClient) -> dict[str, str]:
    """A new org with one product and plenty of stock; its owner's headers."""
    tag = uuid.uuid4().hex[:12]
    r = await http.post(
        "/v1/auth/signup",
        json={
            "email": f"stack-cpu-{tag}@example.com",
            "password": f"stack cpu password {tag}",
            "display_name": "Stack CPU",
            "org_name": f"Stack CPU {tag}",
        },
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    r.raise_for_status()
    headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    product = {"sku": SKU, "name": "Stack CPU", "price": {"amount_minor": 100, "currency": "EUR"}}
    r = await http.post(
        "/v1/products", json=product, headers=headers | {"Idempotency-Key": str(uuid.uuid4())}
    )
    r.raise_for_status()
    r = await http.put(f"/v1/stock/{SKU}", json={"on_hand": 1_000_000}, headers=headers)
    r.raise_for_status()
    return headers


async def read_confirmations(bootstrap: str, seen: dict[str, float], ready: asyncio.Event) -> None:
    """Note when each order's ``order.confirmed`` appears on ``orders.events`` (from now on)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # the partitions, before the first poll
        partitions = [
            TopicPartition("orders.events", p)
            for p in sorted(consumer.partitions_for_topic("orders.events") or [])
        ]
        consumer.assign(partitions)
        for tp, offset in (await consumer.end_offsets(partitions)).items():
            consumer.seek(tp, offset)
        ready.set()
        async for record in consumer:
            if dict(record.headers).get("ce_type") == CONFIRMED and record.key:
                seen.setdefault(record.key.decode(), time.monotonic())
    finally:
        await consumer.stop()


async def place(
    http: httpx.AsyncClient, headers: dict[str, str], sent: dict[str, float], refused: list[int]
) -> None:
    """Place one order; retry a refusal after its Retry-After with the same key."""
    key, started = str(uuid.uuid4()), time.monotonic()
    body = {"currency": "EUR", "lines": [{"sku": SKU, "quantity": 1}]}
    for _ in range(50):
        r = await http.post("/v1/orders", json=body, headers=headers | {"Idempotency-Key": key})
        if r.status_code not in RETRIED:
            r.raise_for_status()
            sent[r.json()["id"]] = started
            return
        refused.append(r.status_code)
        await asyncio.sleep(float(r.headers.get("retry-after", "0.5")))


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Idle first, then the load; the figures as one dict."""
    before = sample()
    await asyncio.sleep(args.idle_s)
    idle = {k: v - before.get(k, 0.0) for k, v in sample().items()}
    rate = {k: v / args.idle_s for k, v in idle.items()}
    async with httpx.AsyncClient(base_url=args.gateway, timeout=30) as http:
        tenants = [await sign_up(http) for _ in range(args.tenants)]
        await asyncio.sleep(5)  # the sign-ups' own events settle
        seen: dict[str, float] = {}
        sent: dict[str, float] = {}
        refused: list[int] = []
        ready = asyncio.Event()
        reader = asyncio.create_task(read_confirmations(args.kafka, seen, ready))
        await ready.wait()
        t0, s0 = time.monotonic(), sample()
        placing = []
        for i in range(args.orders):
            await asyncio.sleep(max(0.0, t0 + i / args.rate - time.monotonic()))
            placing.append(
                asyncio.create_task(place(http, tenants[i % args.tenants], sent, refused))
            )
        await asyncio.gather(*placing)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not set(sent) <= set(seen):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        await asyncio.sleep(1.0)  # the saga's tail after confirmation (stock committed, webhooks)
        t1, s1 = time.monotonic(), sample()
        reader.cancel()
    window = t1 - t0
    confirmed = len(set(sent) & set(seen))
    per_order = {
        k: (v - s0.get(k, 0.0) - rate.get(k, 0.0) * window) * 1000 / max(confirmed, 1)
        for k, v in s1.items()
    }
    latency = sorted((seen[o] - sent[o]) * 1000 for o in sent if o in seen)
    names = processes()
    return {
        "processes": len(names),
        "services_rss_mb": round(rss_mb(names)),
        "idle_cores": {k: round(v, 4) for k, v in summed(rate).items()},
        "idle_ms_per_s": {k: round(v * 1000, 1) for k, v in sorted(rate.items())},
        "orders": args.orders,
        "rate": args.rate,
        "confirmed": confirmed,
        "refused": {str(c): refused.count(c) for c in sorted(set(refused))},
        "window_s": round(window, 1),
        "cpu_ms_per_order": {k: round(v, 1) for k, v in summed(per_order).items()},
        "ms_per_order": {k: round(v, 1) for k, v in sorted(per_order.items())},
        "confirm_p50_ms": round(statistics.median(latency)) if latency else None,
        "confirm_p99_ms": round(latency[int(0.99 * (len(latency) - 1))]) if latency else None,
    }


def main() -> None:
    """Parse the arguments, measure, print one JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--rate", type=float, default=10.0, help="orders per second")
    parser.add_argument("--tenants", type=int, default=4)
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--gateway", default="http://127.0.0.1:8000")
    parser.add_argument("--kafka", default="127.0.0.1:19092")
    parser.add_argument("--label", default="")
    args = parser.parse_args()
    print(json.dumps({"label": args.label} | asyncio.run(measure(args))))


if __name__ == "__main__":
    main()
