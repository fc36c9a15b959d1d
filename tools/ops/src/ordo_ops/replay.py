"""``ordo dlq replay``: the chassis' replay with a progress bar.

:func:`shared.inbox.replay_dead_letters` marks each re-driven record in the consuming service's
``inbox_replayed_dead_letters`` table as it goes (one committed row per record); the bar follows
that table, against the number of records the filters select.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy.engine import make_url

from ordo_ops import kafka as kafka_io
from ordo_ops.stack import Stack
from shared.db import create_engine, create_session_factory
from shared.inbox import ReplayFilter, replay_dead_letters
from shared.inbox._replay_model import ReplayTarget
from shared.settings import DatabaseSettings, KafkaSettings

__all__ = ["ReplayOptions", "run_replay"]


@dataclass(frozen=True, slots=True)
class ReplayOptions:
    """What to replay, and the audit entry's actor and reason."""

    dlq_topic: str
    actor: str
    reason: str
    filters: ReplayFilter
    target: ReplayTarget = "retry"
    dry_run: bool = False
    allow_old: bool = False

    @staticmethod
    def database_from(url: str) -> DatabaseSettings:
        """Database settings from a ``postgresql://user:password@host:port/name`` URL."""
        parsed = make_url(url)
        return DatabaseSettings.model_validate(
            {
                "host": parsed.host or "127.0.0.1",
                "port": parsed.port or 5432,
                "name": parsed.database or "postgres",
                "user": parsed.username or "postgres",
                "password": parsed.password or "",
            }
        )


async def _selected(stack: Stack, options: ReplayOptions) -> int:
    count = 0
    async for record in kafka_io.read_dlq(stack.kafka_bootstrap, options.dlq_topic):
        letter = record.letter
        if letter is not None and options.filters.matches(
            letter, record.event_type, record.timestamp
        ):
            count += 1
    return count


async def _marked(database: DatabaseSettings, topic: str) -> int:
    conn = await asyncpg.connect(dsn=database.dsn(), timeout=5.0)
    try:
        value = await conn.fetchval(
            "SELECT count(*) FROM inbox_replayed_dead_letters WHERE dlq_topic = $1", topic
        )
        return int(value or 0)
    finally:
        await conn.close()


async def run_replay(
    stack: Stack, database: DatabaseSettings, options: ReplayOptions, *, console: Console | None
) -> dict[str, Any]:
    """Replay, showing progress on ``console`` (none: quiet); return the report as JSON data."""
    total = await _selected(stack, options)
    before = await _marked(database, options.dlq_topic)
    engine = create_engine(database, application_name="ordo-ops-replay")
    kafka = KafkaSettings(bootstrap_servers=stack.kafka_bootstrap, client_id="ordo-ops")
    try:
        replay = asyncio.create_task(
            replay_dead_letters(
                session_factory=create_session_factory(engine),
                kafka=kafka,
                dlq_topic=options.dlq_topic,
                actor=options.actor,
                reason=options.reason,
                filters=options.filters,
                target=options.target,
                dry_run=options.dry_run,
                allow_older_than_window=options.allow_old,
            )
        )
        with Progress(
            TextColumn("replaying {task.fields[topic]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            disable=console is None,
        ) as progress:
            task = progress.add_task("replay", total=total, topic=options.dlq_topic)
            while not replay.done():
                await asyncio.wait({replay}, timeout=0.25)
                progress.update(task, completed=await _marked(database, options.dlq_topic) - before)
            report = replay.result()
            progress.update(task, completed=total)
        return report.as_json()
    finally:
        await engine.dispose()
