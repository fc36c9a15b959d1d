"""Replay: chosen dead letters are re-driven once, applied by the fixed handler, and audited."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.db import create_engine, create_session_factory
from shared.errors import ConflictError, ValidationError
from shared.inbox import (
    InboxEvent,
    RedeliveryPolicy,
    ReplayFilter,
    replay_dead_letters,
)
from shared.inbox.replay import main as replay_cli
from shared.inbox.testing import (
    apply_inbox_schema,
    cloud_event_headers,
    publish_records,
    read_topic,
    running_consumer,
    wait_until,
)
from shared.observability.metrics import Metrics
from shared.settings import DatabaseSettings, KafkaSettings, ServiceSettings

pytestmark = pytest.mark.integration

EVENT = "test.webhook_requested.v1"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="replay-tests")
    await apply_inbox_schema(engine)
    async with engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE TABLE IF NOT EXISTS replay_test_effects ("
                " consumer_group text NOT NULL, note text NOT NULL, replay_id text)"
            )
        )
    yield engine
    await engine.dispose()


async def test_replay_re_drives_a_dead_letter_once_and_the_fixed_handler_applies_it(
    engine: AsyncEngine,
    kafka: KafkaSettings,
    topic: str,
    kafka_group: str,
    ordo_database: DatabaseSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fixed = False
    sessions = create_session_factory(engine)

    async def on_webhook_requested(event: InboxEvent, session: AsyncSession) -> None:
        if event.data["note"] == "conflict":
            raise ConflictError("The endpoint is disabled.")
        if event.data["note"] == "needs fix" and not fixed:
            raise ValidationError("This webhook version is not supported yet.")
        replay_id = dict(event.headers).get("ordo-replay-id", b"").decode() or None
        await session.execute(
            text("INSERT INTO replay_test_effects VALUES (:g, :n, :r)"),
            {"g": kafka_group, "n": event.data["note"], "r": replay_id},
        )

    async def effects() -> list[tuple[str, str | None]]:
        async with engine.connect() as conn:
            rows = await conn.execute(
                text("SELECT note, replay_id FROM replay_test_effects WHERE consumer_group = :g"),
                {"g": kafka_group},
            )
            return [(r.note, r.replay_id) for r in rows]

    started = datetime.now(UTC)
    dlq = f"{topic}.dlq"
    await publish_records(
        kafka,
        topic,
        [
            (b"w-1", {"note": "needs fix"}, cloud_event_headers(EVENT)),
            (b"w-2", {"note": "conflict"}, cloud_event_headers(EVENT)),
        ],
    )
    chosen = ReplayFilter(
        since=started - timedelta(minutes=1),
        until=datetime.now(UTC) + timedelta(minutes=5),
        error_codes=frozenset({"validation.failed"}),
        event_types=frozenset({EVENT}),
        groups=frozenset({kafka_group}),
    )
    replay = {
        "session_factory": sessions,
        "kafka": kafka,
        "dlq_topic": dlq,
        "actor": "tester",
        "reason": "handler fixed",
        "filters": chosen,
    }
    async with running_consumer(
        kafka,
        topic=topic,
        group=kafka_group,
        handlers={EVENT: on_webhook_requested},
        session_factory=sessions,
        policy=RedeliveryPolicy(max_attempts=2, initial_delay_s=0.1),
        metrics=Metrics(CollectorRegistry()),
    ):
        await read_topic(kafka.bootstrap_servers, dlq, expected=2)

        too_old = await replay_dead_letters(**replay, window=timedelta(0))
        assert (too_old.matched, too_old.too_old, too_old.replayed) == (1, 1, 0)

        fixed = True
        first = await replay_dead_letters(**replay)
        assert (first.scanned, first.matched, first.replayed, first.already_replayed) == (
            2,
            1,
            1,
            0,
        )

        async def applied() -> bool:
            return len(await effects()) == 1

        await wait_until(applied, message="the replayed event applied")

        second = await replay_dead_letters(**replay)
        assert (second.matched, second.replayed, second.already_replayed) == (1, 0, 1)

        code = await asyncio.to_thread(
            replay_cli,
            [
                "--dlq-topic",
                dlq,
                "--actor",
                "cli",
                "--reason",
                "count",
                "--dry-run",
                "--group",
                kafka_group,
            ],
            ServiceSettings(database=ordo_database, kafka=kafka),
        )
        assert code == 0
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert (printed["dry_run"], printed["matched"], printed["replayed"]) == (True, 2, 0), str(
            printed
        )
        # Let anything a double publish would have produced arrive before looking.
        await asyncio.sleep(1.0)

    assert await effects() == [("needs fix", str(first.replay_id))]
    async with engine.connect() as conn:
        audit = (
            await conn.execute(
                text(
                    "SELECT id, actor, reason, status, matched, replayed, already_replayed,"
                    " too_old, dry_run FROM inbox_replay_audit WHERE dlq_topic = :t"
                    " ORDER BY started_at"
                ),
                {"t": dlq},
            )
        ).all()
        marks = await conn.scalar(
            text("SELECT count(*) FROM inbox_replayed_dead_letters WHERE dlq_topic = :t"),
            {"t": dlq},
        )
    assert [
        (a.status, a.matched, a.replayed, a.already_replayed, a.too_old, a.dry_run) for a in audit
    ] == [
        ("finished", 1, 0, 0, 1, False),
        ("finished", 1, 1, 0, 0, False),
        ("finished", 1, 0, 1, 0, False),
        ("finished", 2, 0, 0, 0, True),
    ]
    assert audit[1].id == first.replay_id
    assert audit[1].actor == "tester"
    assert marks == 1
