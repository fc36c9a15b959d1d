"""PgListener hears a doorbell on a channel of its own, catches up and survives a lost session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared.outbox import PgListener, PgNotifyDoorbell
from shared.outbox.testing import eventually
from shared.settings import DatabaseSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration


class Rings:
    """Counts the listener's calls."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


@pytest.fixture
def channel() -> str:
    return f"test_queue_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def listening(
    ordo_database: DatabaseSettings, channel: str
) -> AsyncIterator[tuple[PgListener, Rings]]:
    rings = Rings()
    name = f"test-listen-{channel[-12:]}"
    listener = PgListener(
        ordo_database,
        channel,
        rings,
        application_name=name,
        probe_interval_s=0.2,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(listener.run(stop))
    await asyncio.wait_for(listener.listening.wait(), 10)
    yield listener, rings
    stop.set()
    await asyncio.wait_for(task, 10)
    assert not listener.listening.is_set()


async def test_a_doorbell_on_a_channel_rings_the_listener_of_that_channel_only(
    ordo_database: DatabaseSettings, channel: str, listening: tuple[PgListener, Rings]
) -> None:
    listener, rings = listening
    await eventually(lambda: rings.count == 1)  # the catch-up ring after connecting
    other = PgNotifyDoorbell(ordo_database, channel=f"{channel}_other")
    mine = PgNotifyDoorbell(ordo_database, channel=channel)
    assert mine.channel == channel
    try:
        other.ring()
        await eventually(lambda: other.sent == 1)
        mine.ring()
        await eventually(lambda: listener.notifications == 1)
        assert rings.count == 2
    finally:
        await other.close()
        await mine.close()


async def test_the_default_channel_is_still_the_outbox_tables(
    ordo_database: DatabaseSettings,
) -> None:
    doorbell = PgNotifyDoorbell(ordo_database, "payments_due")
    assert doorbell.channel == "ordo_outbox_public_payments_due"


async def test_a_terminated_session_is_reopened_and_rings_to_catch_up(
    ordo_endpoints: Endpoints,
    ordo_database: DatabaseSettings,
    channel: str,
    listening: tuple[PgListener, Rings],
) -> None:
    listener, rings = listening
    await eventually(lambda: rings.count == 1)
    admin = await asyncpg.connect(ordo_endpoints.postgres_admin_dsn)
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            f"test-listen-{channel[-12:]}",
        )
    finally:
        await admin.close()
    assert killed == 1
    await eventually(lambda: rings.count == 2, timeout_s=10)  # reconnected, caught up
    await eventually(listener.listening.is_set, timeout_s=10)
    doorbell = PgNotifyDoorbell(ordo_database, channel=channel)
    try:
        doorbell.ring()
        await eventually(lambda: listener.notifications == 1, timeout_s=10)
    finally:
        await doorbell.close()
