"""``ordo jobs`` and ``ordo keys`` (tools/ops, issue 14 item 6), run as the console script.

Jobs: rows of a kind unique to the test in the running stack's catalog database (its ``jobs``
table, migration 0003; no worker runs that kind), listed, shown and cancelled through the CLI.
Keys: identity's real rotation on a scratch database migrated to identity's head, with its
own key-encryption key, so the stack's signing key is left alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from ordo_ops.stack import Stack
from sqlalchemy import MetaData, delete

from shared.db import create_engine, create_session_factory
from shared.jobs.sqla import SqlaJobRecords, jobs_table
from shared.settings import DatabaseSettings
from shared.testing.migrations import Alembic

# Every command is a process of its own (~1.5 s of CPU each): generous under a loaded machine.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TABLE = jobs_table(MetaData())


async def run(argv: list[str], *, env: dict[str, str] | None = None, expect: int = 0) -> str:
    """Run a console script of the venv; its stdout, failing on an unexpected exit."""
    process = await asyncio.create_subprocess_exec(
        str(BIN / argv[0]),
        *argv[1:],
        env=(env or dict(os.environ)) | {"ORDO_ROOT": str(REPO), "COLUMNS": "200"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=90)
    assert process.returncode == expect, f"{' '.join(argv)}: {out.decode()}{err.decode()}"
    return out.decode()


@pytest.fixture
async def jobs() -> AsyncIterator[tuple[str, list[uuid.UUID]]]:
    """Three jobs of a fresh kind in catalog's database: queued, running, succeeded."""
    kind = f"test.ops_cli_{uuid.uuid4().hex[:10]}"
    engine = create_engine(Stack.discover(REPO).database("catalog"), application_name="ops-test")
    sessions = create_session_factory(engine)
    ids = [uuid.uuid4() for _ in range(3)]
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        records = SqlaJobRecords(session, TABLE)
        for job_id in ids:
            await records.enqueue(
                job_id=job_id,
                kind=kind,
                org_id=None,
                params={},
                total=200,
                created_by=None,
                max_attempts=3,
                now=now,
            )
    async with sessions.begin() as session:
        await session.execute(
            TABLE.update()
            .where(TABLE.c.id == ids[0])
            .values(state="succeeded", done=200, attempts=1, finished_at=now)
        )
        await session.execute(
            TABLE.update()
            .where(TABLE.c.id == ids[1])
            .values(
                state="running",
                done=50,
                attempts=1,
                heartbeat_at=now,
                lease_owner="ops-test",
                lease_expires_at=now + timedelta(minutes=1),
            )
        )
    yield kind, ids
    async with sessions.begin() as session:
        await session.execute(delete(TABLE).where(TABLE.c.kind == kind))
    await engine.dispose()


async def test_jobs_list_shows_state_percent_and_attempts(
    jobs: tuple[str, list[uuid.UUID]],
) -> None:
    kind, ids = jobs
    listed = json.loads(await run(["ordo", "jobs", "list", "--kind", kind, "--json"]))
    rows = {row["id"]: row for row in listed["jobs"]}
    assert set(rows) == {str(i) for i in ids}
    assert {row["service"] for row in rows.values()} == {"catalog"}
    done, running, queued = (rows[str(i)] for i in ids)
    assert (done["state"], done["percent"]) == ("succeeded", 100)
    assert (running["state"], running["percent"], running["attempts"]) == ("running", 25, 1)
    assert running["heartbeat_age_s"] is not None
    assert (queued["state"], queued["percent"], queued["attempts"]) == ("queued", 0, 0)
    only = json.loads(
        await run(["ordo", "jobs", "list", "--kind", kind, "--state", "queued", "--json"])
    )
    assert [row["id"] for row in only["jobs"]] == [str(ids[2])]
    table = await run(["ordo", "jobs", "list", "--kind", kind, "--service", "catalog"])
    assert str(ids[1]) in table
    assert "running" in table
    await run(["ordo", "jobs", "list", "--state", "sleeping"], expect=2)


async def test_jobs_show_and_follow_a_finished_job(jobs: tuple[str, list[uuid.UUID]]) -> None:
    _kind, ids = jobs
    shown = json.loads(await run(["ordo", "jobs", "show", str(ids[1]), "--json"]))
    assert (shown["state"], shown["done"], shown["total"]) == ("running", 50, 200)
    followed = await run(["ordo", "jobs", "show", str(ids[0]), "--follow", "--interval", "0.1"])
    assert "100%" in followed
    assert '"succeeded"' in followed
    await run(["ordo", "jobs", "show", str(uuid.uuid4())], expect=1)


async def test_jobs_cancel_queued_at_once_and_running_by_request(
    jobs: tuple[str, list[uuid.UUID]],
) -> None:
    _kind, (done, running, queued) = jobs
    cancelled = json.loads(await run(["ordo", "jobs", "cancel", str(queued), "--json"]))
    assert (cancelled["state"], cancelled["cancel_requested"]) == ("cancelled", True)
    asked = json.loads(await run(["ordo", "jobs", "cancel", str(running), "--json"]))
    assert (asked["state"], asked["cancel_requested"]) == ("running", True)
    untouched = await run(["ordo", "jobs", "cancel", str(done)])
    assert "already succeeded" in untouched
    await run(["ordo", "jobs", "cancel", str(uuid.uuid4())], expect=1)


@pytest.fixture
async def identity_database(ordo_scratch_database: DatabaseSettings) -> DatabaseSettings:
    """A scratch database at identity's head revision."""
    await Alembic(REPO / "services" / "identity").upgrade_head(ordo_scratch_database)
    return ordo_scratch_database


def url_of(database: DatabaseSettings) -> str:
    return database.dsn()


async def test_keys_rotate_makes_a_new_signing_key_and_keeps_the_old_published(
    identity_database: DatabaseSettings, tmp_path: Path
) -> None:
    secrets = tmp_path / "identity-secrets"
    env = dict(os.environ) | {
        "ORDO_SECRETS_DIR": str(secrets),
        "ORDO_DATABASE__HOST": identity_database.host,
        "ORDO_DATABASE__PORT": str(identity_database.port),
        "ORDO_DATABASE__NAME": identity_database.name,
        "ORDO_DATABASE__USER": identity_database.user,
        "ORDO_DATABASE__PASSWORD": identity_database.password.get_secret_value(),
    }
    first = (await run(["ordo-identity-cli", "init-keys"], env=env)).split(": ")[-1].strip()
    options = ["--database-url", url_of(identity_database), "--secrets-dir", str(secrets)]
    rotated: dict[str, Any] = json.loads(await run(["ordo", "keys", "rotate", *options, "--json"]))
    assert rotated["active_kid"] != first
    assert rotated["retired_kid"] == first
    listed = await run(["ordo", "keys", "list", *options])  # the table an operator reads
    assert first in listed, "the old key stays published until the tokens it signed expire"
    assert rotated["active_kid"] in listed

    wrong = ["--database-url", url_of(identity_database), "--secrets-dir", str(tmp_path / "none")]
    await run(["ordo", "keys", "rotate", *wrong], expect=1)
