"""`make backup` then `make restore-drill` on the local stack's databases, into a scratch
cluster of this test's own (unique port and folder); the checks can fail on broken data."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "infra" / "backup"))

import drill  # noqa: E402 - infra/backup is not a package

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def kept_drill(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[drill.Scratch, dict]]:
    backups = tmp_path_factory.mktemp("backups")
    env = os.environ | {"ORDO_BACKUPS": str(backups)}
    made = subprocess.run(  # noqa: S603 - our own script
        [str(REPO / "infra/backup/backup.sh")], env=env, capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    workdir = drill.DATA / "drill-tests" / uuid.uuid4().hex[:12]
    port = _free_port()
    ran = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(REPO / "infra/backup/drill.py"), "--backup", str(backups / "latest")]
        + ["--port", str(port), "--workdir", str(workdir), "--keep"],
        capture_output=True,
        text=True,
        check=False,
    )
    scratch = drill.Scratch(workdir / "cluster", port, drill.superuser_password())
    try:
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "recovery point:" in ran.stdout
        assert "recovery time:" in ran.stdout
        yield scratch, json.loads((workdir / "report.json").read_text())
    finally:
        scratch.stop(remove=True)
        shutil.rmtree(workdir, ignore_errors=True)


def test_the_drill_restores_the_latest_backup_and_every_check_holds(kept_drill) -> None:
    _, report = kept_drill
    assert report["ok"] is True
    checked = {(c["database"], c["check"].split(":")[0]) for c in report["checks"]}
    for database in ("ordo_identity", "ordo_catalog", "ordo_orders", "ordo_payments"):
        assert (database, "migrations") in checked
    assert report["recovery_time_s"] > 0
    assert report["recovery_point"]["age_at_drill_s"] >= 0


async def _break(scratch: drill.Scratch) -> None:
    async def run(database: str, *statements: str) -> None:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=scratch.port,
            user="postgres",
            password=scratch.password,
            database=database,
        )
        try:
            for statement in statements:
                await conn.execute(statement)
        finally:
            await conn.close()

    product = uuid.uuid4()
    await run(
        "ordo_catalog",
        "INSERT INTO products (id, org_id, sku, name, price_minor, currency, version,"
        " created_at, updated_at) VALUES"
        f" ('{product}', gen_random_uuid(), 'DRILL-1', 'drill', 1, 'EUR', 1, now(), now())",
        # One unit reserved that no held reservation accounts for.
        "INSERT INTO stock_items (product_id, org_id, sku, on_hand, reserved)"
        f" SELECT id, org_id, sku, 5, 1 FROM products WHERE id = '{product}'",
    )
    await run("ordo_orders", "UPDATE alembic_version SET version_num = 'not-a-revision'")


def test_the_checks_fail_on_broken_data(kept_drill) -> None:
    scratch, _ = kept_drill
    asyncio.run(_break(scratch))
    failed = {
        (r["database"], r["check"]) for r in asyncio.run(drill.verify(scratch)) if not r["ok"]
    }
    assert failed == {
        ("ordo_orders", "migrations: alembic current == head"),
        (
            "ordo_catalog",
            "stock conserved: reserved = the held reservations' quantities, per product",
        ),
    }
