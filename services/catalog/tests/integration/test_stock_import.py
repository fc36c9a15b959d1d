"""Bulk stock import on the real PostgreSQL, through catalog's API and a real job runner:
a worker killed mid-batch (a task cancelled, and a real ``ordo-catalog-worker`` process sent
SIGKILL) resumes from its checkpoint without applying a line twice; cancel;
the CSV's refusals; the Idempotency-Key; RBAC and tenancy."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess  # nosec B404 - starts our own worker process
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any, Self

import httpx
import pytest
from asgi_lifespan import LifespanManager
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from catalog.adapters.persistence.tables import jobs as jobs_table
from catalog.adapters.persistence.unit_of_work import CatalogUnitOfWork
from catalog.application.stock_imports import stock_import_use_cases
from catalog.application.use_cases.start_stock_import import IMPORT_KIND
from catalog.bootstrap import CacheSettings, build_app, unit_of_work_factory
from shared.clock import FrozenClock, SystemClock
from shared.ids import new_id
from shared.jobs import JobLease
from shared.jobs.runner import JobRunner
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings
from shared.testing import Endpoints

from .conftest import Tokens, app_settings

pytestmark = pytest.mark.integration

BATCH = 50


@pytest.fixture(scope="module")
def tokens() -> Tokens:
    return Tokens()


@pytest.fixture(scope="module")
async def api(
    migrated: DatabaseSettings, tokens: Tokens, ordo_endpoints: Endpoints
) -> AsyncIterator[httpx.AsyncClient]:
    prefix = f"test:catalog-imports:{uuid.uuid4().hex[:10]}:"
    settings = app_settings(
        migrated, ordo_endpoints, cache=CacheSettings(key_prefix=prefix, listen=False)
    )
    app = build_app(settings, keys=tokens.keys)
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://catalog") as client:
            yield client


class Gate:
    """Holds the ``hold_at``-th progress write (inside its batch's transaction) until opened."""

    def __init__(self, hold_at: int) -> None:
        self.hold_at, self.calls = hold_at, 0
        self.reached, self.open = asyncio.Event(), asyncio.Event()


class GatedUnitOfWork(CatalogUnitOfWork):
    gate: Gate

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        records, gate = self.jobs, self.gate
        real = records.save_progress

        async def save_progress(lease: JobLease, **kwargs: Any) -> bool:
            gate.calls += 1
            if gate.calls == gate.hold_at:
                gate.reached.set()
                await gate.open.wait()
            return await real(lease, **kwargs)

        records.save_progress = save_progress  # type: ignore[method-assign]
        return self


def worker(
    sessions: async_sessionmaker[AsyncSession],
    *,
    gate: Gate | None = None,
    clock: FrozenClock | None = None,
    owner: str | None = None,
) -> JobRunner:
    """A job runner of catalog's imports (as ``build_workers`` wires it, with test knobs)."""
    factory = unit_of_work_factory(sessions)
    if gate is not None:
        gated = type("Gated", (GatedUnitOfWork,), {"gate": gate})
        factory = partial(gated, *factory.args)  # type: ignore[attr-defined]
    imports = stock_import_use_cases(factory, clock or SystemClock(), new_id, batch_size=BATCH)
    return JobRunner(
        sessions,
        jobs_table,
        {IMPORT_KIND: imports.run},
        clock=clock,
        metrics=Metrics(CollectorRegistry()),
        poll_interval_s=0.05,
        heartbeat_interval_s=0.2,
        lease_s=30,
        owner=owner,
    )


async def stock_skus(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, skus: list[str]
) -> None:
    for sku in skus:
        body = {"sku": sku, "name": sku, "price": {"amount_minor": 100, "currency": "EUR"}}
        created = await api.post("/products", json=body, headers=tokens.headers(org_id))
        assert created.status_code == 201, created.text
        put = await api.put(
            f"/stock/{sku}", json={"on_hand": 1000}, headers=tokens.bearer(org_id, "member")
        )
        assert put.status_code == 200, put.text


async def start(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, csv: str
) -> dict[str, Any]:
    started = await api.post("/stock-imports", json={"csv": csv}, headers=tokens.headers(org_id))
    assert started.status_code == 202, started.text
    body: dict[str, Any] = started.json()
    assert started.headers["Location"] == f"/stock-imports/{body['id']}"
    return body


async def job_of(api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, job_id: str) -> Any:
    got = await api.get(f"/stock-imports/{job_id}", headers=tokens.bearer(org_id, "viewer"))
    assert got.status_code == 200, got.text
    return got.json()


async def on_hand(api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, sku: str) -> int:
    level = await api.get(f"/stock/{sku}", headers=tokens.bearer(org_id, "member"))
    value: int = level.json()["on_hand"]
    return value


async def stock_events(engine: AsyncEngine, org_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            text(
                "SELECT count(*) FROM outbox WHERE headers->>'ce_orgid' = :org"
                " AND payload->>'change' = 'adjusted'"
            ),
            {"org": str(org_id)},
        )
    return int(count or 0)


async def test_a_worker_killed_mid_batch_resumes_without_double_apply(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    sessions: async_sessionmaker[AsyncSession],
    engine: AsyncEngine,
) -> None:
    skus = ["IMP-A", "IMP-B", "IMP-C"]
    await stock_skus(api, tokens, org_id, skus)
    rows = [(skus[n % 3], (n % 5) + 1) for n in range(1000)]
    csv = "sku,delta,reason\n" + "".join(f"{s},{d},restock\n" for s, d in rows)
    job = await start(api, tokens, org_id, csv)
    assert (job["state"], job["percent"], job["rows_total"]) == ("queued", 0, 1000)

    gate = Gate(hold_at=5)  # four batches commit; the fifth is written, then the worker dies
    first = worker(sessions, gate=gate)
    killed = asyncio.create_task(first.run_once())
    await asyncio.wait_for(gate.reached.wait(), timeout=30)
    killed.cancel()
    await asyncio.gather(killed, return_exceptions=True)
    seen = await job_of(api, tokens, org_id, job["id"])
    assert (seen["state"], seen["rows_processed"], seen["percent"]) == ("running", 200, 20)
    assert await stock_events(engine, org_id) == 200

    later = FrozenClock()
    later.advance(timedelta(seconds=31))  # the dead worker's lease has expired
    assert await worker(sessions, clock=later, owner="second").run_once()
    done = await job_of(api, tokens, org_id, job["id"])
    assert (done["state"], done["percent"], done["attempts"]) == ("succeeded", 100, 2)
    assert done["result"] == {
        "rows": 1000,
        "applied": 1000,
        "failed": 0,
        "errors": [],
        "errors_truncated": False,
    }
    for sku in skus:
        expected = 1000 + sum(d for s, d in rows if s == sku)
        assert await on_hand(api, tokens, org_id, sku) == expected
    assert await stock_events(engine, org_id) == 1000


async def test_cancel_stops_a_running_import_after_its_batch(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await stock_skus(api, tokens, org_id, ["CXL-A"])
    job = await start(api, tokens, org_id, "sku,delta\n" + "CXL-A,1\n" * 400)
    gate = Gate(hold_at=2)
    task = asyncio.create_task(worker(sessions, gate=gate).run_once())
    await asyncio.wait_for(gate.reached.wait(), timeout=30)
    cancel = f"/stock-imports/{job['id']}/cancel"
    viewer = await api.post(cancel, headers=tokens.bearer(org_id, "viewer"))
    assert viewer.status_code == 403
    asked = await api.post(cancel, headers=tokens.bearer(org_id, "member"))
    assert asked.status_code == 202, asked.text
    assert (asked.json()["state"], asked.json()["cancel_requested"]) == ("running", True)
    gate.open.set()
    await asyncio.wait_for(task, timeout=30)
    done = await job_of(api, tokens, org_id, job["id"])
    assert done["state"] == "cancelled"
    assert done["result"]["applied"] == 2 * BATCH
    assert await on_hand(api, tokens, org_id, "CXL-A") == 1000 + 2 * BATCH
    again = await api.post(cancel, headers=tokens.bearer(org_id, "member"))
    assert (again.status_code, again.json()["state"]) == (202, "cancelled")


async def test_a_queued_import_cancels_at_once_and_never_runs(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await stock_skus(api, tokens, org_id, ["Q-A"])
    job = await start(api, tokens, org_id, "sku,delta\nQ-A,5\n")
    asked = await api.post(
        f"/stock-imports/{job['id']}/cancel", headers=tokens.bearer(org_id, "member")
    )
    assert asked.json()["state"] == "cancelled"
    await worker(sessions).run_once()
    assert await on_hand(api, tokens, org_id, "Q-A") == 1000


async def test_refused_lines_are_reported_per_line(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await stock_skus(api, tokens, org_id, ["R-A"])
    job = await start(api, tokens, org_id, "sku,delta\nR-A,5\nMISSING,1\nR-A,-2000\nR-A,-5\n")
    while await worker(sessions).run_once():
        pass
    done = await job_of(api, tokens, org_id, job["id"])
    assert done["state"] == "succeeded"
    result: Mapping[str, Any] = done["result"]
    assert (result["applied"], result["failed"]) == (2, 2)
    assert [(e["line"], e["code"]) for e in result["errors"]] == [
        (3, "product.not_found"),
        (4, "stock.invalid_quantity"),
    ]
    assert await on_hand(api, tokens, org_id, "R-A") == 1000


async def test_bad_csv_and_limits_are_422_and_start_nothing(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID, engine: AsyncEngine
) -> None:
    bad = await api.post(
        "/stock-imports", json={"csv": "sku,delta\nA,zero\n"}, headers=tokens.headers(org_id)
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"] == "application/problem+json"
    assert bad.json()["code"] == "stock_import.invalid_csv"
    assert bad.json()["errors"][0]["path"] == "body.csv.line2.delta"
    huge = await api.post(
        "/stock-imports", json={"csv": "x" * 900_001}, headers=tokens.headers(org_id)
    )
    assert (huge.status_code, huge.json()["code"]) == (422, "validation.failed")
    async with engine.connect() as conn:
        count = await conn.scalar(
            text("SELECT count(*) FROM jobs WHERE org_id = :org"), {"org": str(org_id)}
        )
    assert count == 0


async def test_idempotency_roles_and_tenancy(
    api: httpx.AsyncClient, tokens: Tokens, org_id: uuid.UUID
) -> None:
    headers = tokens.headers(org_id)
    body = {"csv": "sku,delta\nT-A,1\n"}
    first = await api.post("/stock-imports", json=body, headers=headers)
    again = await api.post("/stock-imports", json=body, headers=headers)
    assert again.status_code == 202
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json()["id"] == first.json()["id"]
    reused = await api.post("/stock-imports", json={"csv": "sku,delta\nT-B,1\n"}, headers=headers)
    assert (reused.status_code, reused.json()["code"]) == (422, "idempotency.key_reused")
    viewer = tokens.headers(org_id, "viewer")
    assert (await api.post("/stock-imports", json=body, headers=viewer)).status_code == 403
    stranger = tokens.bearer(uuid.uuid4(), "member")
    path = f"/stock-imports/{first.json()['id']}"
    got = await api.get(path, headers=stranger)
    assert (got.status_code, got.json()["code"]) == (404, "stock_import.not_found")
    assert (await api.post(f"{path}/cancel", headers=stranger)).status_code == 404
    # Leave no queued import behind for another test's worker to claim first.
    mine = await api.post(f"{path}/cancel", headers=tokens.bearer(org_id, "member"))
    assert mine.json()["state"] == "cancelled"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def worker_process(database: DatabaseSettings, secrets: Path) -> subprocess.Popen[bytes]:
    """``ordo-catalog-worker`` on the test database: leases of 3 s, batches of 25 lines."""
    env = dict(os.environ) | {
        "ORDO_ENVIRONMENT": "test",
        "ORDO_DATABASE__HOST": database.host,
        "ORDO_DATABASE__PORT": str(database.port),
        "ORDO_DATABASE__NAME": database.name,
        "ORDO_DATABASE__USER": database.user,
        "ORDO_DATABASE__PASSWORD": database.password.get_secret_value(),
        "ORDO_SECRETS_DIR": str(secrets),
        "ORDO_CACHE__ENABLED": "false",
        "ORDO_WORKER_HEALTH_PORT": str(free_port()),
        "ORDO_JOBS__LEASE_S": "3",
        "ORDO_JOBS__HEARTBEAT_INTERVAL_S": "1",
        "ORDO_JOBS__POLL_INTERVAL_S": "0.2",
        "ORDO_JOBS__IMPORT_BATCH_SIZE": "25",
        "ORDO_OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    script = Path(sys.executable).parent / "ordo-catalog-worker"
    return subprocess.Popen(  # noqa: S603 # nosec B603 - our console script
        [str(script)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


async def import_row(engine: AsyncEngine, job_id: str) -> Any:
    async with engine.connect() as conn:
        row = (
            await conn.execute(
                text("SELECT state, done, attempts, checkpoint FROM jobs WHERE id = :id"),
                {"id": job_id},
            )
        ).one()
    return row._mapping


async def wait_for(engine: AsyncEngine, job_id: str, ok: Any, within: float) -> Any:
    deadline = time.monotonic() + within
    while True:
        row = await import_row(engine, job_id)
        if ok(row):
            return row
        assert time.monotonic() < deadline, f"not reached within {within} s: {dict(row)}"
        await asyncio.sleep(0.05)


async def test_a_worker_process_killed_with_sigkill_resumes_without_double_apply(
    api: httpx.AsyncClient,
    tokens: Tokens,
    org_id: uuid.UUID,
    migrated: DatabaseSettings,
    engine: AsyncEngine,
    tmp_path: Path,
) -> None:
    skus = [f"KILL-{n}" for n in range(10)]
    await stock_skus(api, tokens, org_id, skus)
    rows = [(skus[n % 10], (n % 3) + 1) for n in range(3000)]
    job = await start(api, tokens, org_id, "sku,delta\n" + "".join(f"{s},{d}\n" for s, d in rows))
    first = worker_process(migrated, tmp_path)
    try:
        await wait_for(engine, job["id"], lambda r: r["done"] >= 300, within=120)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    killed = await import_row(engine, job["id"])
    assert killed["state"] == "running"
    assert killed["done"] < 3000, "killed before the end"
    assert killed["checkpoint"]["next_index"] == killed["done"]
    assert await stock_events(engine, org_id) == killed["done"], "only committed batches count"

    second = worker_process(migrated, tmp_path)
    try:
        done = await wait_for(engine, job["id"], lambda r: r["state"] != "running", within=180)
    finally:
        second.terminate()
        second.wait(timeout=30)
    assert (done["state"], done["done"], done["attempts"]) == ("succeeded", 3000, 2)
    assert await stock_events(engine, org_id) == 3000
    for sku in skus:
        expected = 1000 + sum(d for s, d in rows if s == sku)
        assert await on_hand(api, tokens, org_id, sku) == expected
