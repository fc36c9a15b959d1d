"""What ``pg_notify`` in the writing transaction costs the writers.

PostgreSQL queues a transaction's notifications at commit under one cluster-wide lock, so
committing writers that notify are serialised on it. pgbench runs the same transaction (a
~300-byte domain row and one outbox row) with and without ``SELECT pg_notify(...)``, with a
listener attached as the relay would be, alternating the two so drift hits both.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from common import Env

from shared.db import create_engine
from shared.outbox.testing import install_outbox

_TX = """\
BEGIN;
INSERT INTO {domain} (id, body) VALUES (gen_random_uuid(), repeat('x', 300));
INSERT INTO {outbox} (id, lane, topic, key, payload, headers)
  VALUES (gen_random_uuid(), (random() * 63)::int, 'orders.events', 'order-1',
          '{{"order_id":"x","pad":"{pad}"}}', '{{"ce_type":"ordo.bench.v1"}}');
{notify}END;
"""


def _script(folder: Path, name: str, domain: str, outbox: str, notify: bool) -> Path:
    path = folder / f"{name}.sql"
    statement = "SELECT pg_notify('ordo_bench_notify', '');\n" if notify else ""
    path.write_text(_TX.format(domain=domain, outbox=outbox, pad="x" * 200, notify=statement))
    return path


async def _pgbench(env: Env, script: Path, clients: int, seconds: int) -> dict[str, float]:
    dsn = urlsplit(env.admin_dsn)
    process = await asyncio.create_subprocess_exec(
        "pgbench",
        "-n",
        "-c",
        str(clients),
        "-j",
        "2",
        "-T",
        str(seconds),
        "-f",
        str(script),
        "-h",
        dsn.hostname or "127.0.0.1",
        "-p",
        str(dsn.port or 5432),
        "-U",
        dsn.username or "postgres",
        env.db_name,
        env={**os.environ, "PGPASSWORD": dsn.password or ""},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    text = out.decode()
    tps = re.search(r"tps = ([\d.]+)", text)
    latency = re.search(r"latency average = ([\d.]+) ms", text)
    if process.returncode != 0 or tps is None or latency is None:
        raise RuntimeError(f"pgbench failed: {err.decode()[-500:]}")
    return {"tps": float(tps.group(1)), "latency_ms": float(latency.group(1))}


async def notify_cost(
    env: Env, clients: int = 8, seconds: int = 6, rounds: int = 2
) -> dict[str, Any]:
    """Commit throughput of 8 writers without and with NOTIFY (median of ``rounds`` each)."""
    if shutil.which("pgbench") is None:
        return {"skipped": "pgbench is not installed"}
    suffix = uuid.uuid4().hex[:8]
    domain, outbox = f"bench_domain_{suffix}", f"bench_notify_outbox_{suffix}"
    engine = create_engine(env.database, application_name="bench-notify")
    await install_outbox(engine, outbox)
    await engine.dispose()
    listener = await asyncpg.connect(env.database.dsn())
    await listener.execute(f"CREATE TABLE {domain} (id uuid PRIMARY KEY, body text)")
    heard = 0

    def count(*_: object) -> None:
        nonlocal heard
        heard += 1

    await listener.add_listener("ordo_bench_notify", count)
    results: dict[str, list[dict[str, float]]] = {"plain": [], "notify": []}
    try:
        with tempfile.TemporaryDirectory() as folder:
            scripts = {
                name: _script(Path(folder), name, domain, outbox, notify=name == "notify")
                for name in results
            }
            for _ in range(rounds):
                for name, script in scripts.items():
                    results[name].append(await _pgbench(env, script, clients, seconds))
    finally:
        await listener.close()
    plain = sorted(r["tps"] for r in results["plain"])[len(results["plain"]) // 2]
    notify = sorted(r["tps"] for r in results["notify"])[len(results["notify"]) // 2]
    return {
        "clients": clients,
        "plain_tps": plain,
        "notify_tps": notify,
        "notify_vs_plain": notify / plain,
        "runs": results,
        "notifications_heard": heard,
    }
