"""Idempotency records against the real PostgreSQL: replay, reuse, in-flight twins, expiry."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Column, MetaData, String, Table, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from shared.clock import FrozenClock
from shared.db import create_engine, create_session_factory
from shared.db.idempotency import (
    SqlaIdempotencyRecords,
    idempotency_table,
)
from shared.idempotency import (
    IdempotencyInProgressError,
    IdempotencyKeyReusedError,
    IdempotentResponse,
    request_fingerprint,
)
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration

metadata = MetaData()
records = idempotency_table(metadata, name=f"idem_{uuid.uuid4().hex[:8]}")
things = Table(f"things_{uuid.uuid4().hex[:8]}", metadata, Column("name", String, primary_key=True))


@pytest.fixture(scope="module")
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="idempotency-test")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    yield engine
    async with engine.begin() as conn:
        await conn.run_sync(metadata.drop_all)
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


async def create_thing(
    sessions: async_sessionmaker[AsyncSession],
    scope: str,
    key: str,
    name: str,
    *,
    hold: asyncio.Event | None = None,
    clock: FrozenClock | None = None,
) -> tuple[IdempotentResponse, bool]:
    """A creating use case: claim, write, complete, commit. Returns (response, replayed)."""
    fingerprint = request_fingerprint("POST", "/things", {"name": name})
    async with sessions() as session, session.begin():
        idem = SqlaIdempotencyRecords(session, records, clock=clock)
        replay = await idem.claim(scope=scope, key=key, fingerprint=fingerprint)
        if replay is not None:
            return replay, True
        await session.execute(things.insert().values(name=name))
        if hold is not None:
            await hold.wait()
        response = IdempotentResponse(201, {"name": name})
        await idem.complete(scope=scope, key=key, response=response)
    return response, False


async def holds_claim(sessions: async_sessionmaker[AsyncSession], scope: str, key: str) -> bool:
    """Whether some transaction holds the advisory lock of (scope, key) right now."""
    async with sessions() as session, session.begin():
        idem = SqlaIdempotencyRecords(session, records)
        try:
            await idem.claim(scope=scope, key=key, fingerprint="probe")
        except IdempotencyInProgressError:
            return True
        await session.rollback()
        return False


async def count_things(sessions: async_sessionmaker[AsyncSession], name: str) -> int:
    async with sessions() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(things).where(things.c.name == name)
            )
            or 0
        )


async def test_same_key_and_request_replays_the_stored_response(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    first, replayed_first = await create_thing(sessions, scope, key, name)
    second, replayed_second = await create_thing(sessions, scope, key, name)
    assert (replayed_first, replayed_second) == (False, True)
    assert second == first == IdempotentResponse(201, {"name": name})
    assert await count_things(sessions, name) == 1


async def test_same_key_other_request_is_refused_and_changes_nothing(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    await create_thing(sessions, scope, key, name)
    other = uuid.uuid4().hex
    with pytest.raises(IdempotencyKeyReusedError) as caught:
        await create_thing(sessions, scope, key, other)
    assert caught.value.code == "idempotency.key_reused"
    assert await count_things(sessions, other) == 0


async def test_the_same_key_in_another_scope_is_another_key(sessions) -> None:
    key, name = uuid.uuid4().hex, uuid.uuid4().hex
    await create_thing(sessions, "org-a:create_thing", key, name)
    _, replayed = await create_thing(sessions, "org-b:create_thing", key, name + "-b")
    assert replayed is False


async def test_a_twin_in_flight_gets_409_at_once_then_the_replay(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    hold = asyncio.Event()
    first = asyncio.create_task(create_thing(sessions, scope, key, name, hold=hold))
    await asyncio.sleep(0)
    # Poll (with a deadline) until the first request holds its claim; the twin is then refused
    # at once instead of waiting behind it.
    deadline = asyncio.get_running_loop().time() + 10
    while not await holds_claim(sessions, scope, key):
        assert asyncio.get_running_loop().time() < deadline, "the first request never claimed"
        await asyncio.sleep(0.01)
    with pytest.raises(IdempotencyInProgressError, match="in progress"):
        await asyncio.wait_for(create_thing(sessions, scope, key, name), timeout=5)
    hold.set()
    response, replayed = await first
    assert replayed is False
    again, replayed_again = await create_thing(sessions, scope, key, name)
    assert (again, replayed_again) == (response, True)
    assert await count_things(sessions, name) == 1


async def test_twenty_concurrent_twins_create_exactly_one(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    results = await asyncio.gather(
        *(create_thing(sessions, scope, key, name) for _ in range(20)), return_exceptions=True
    )
    created = [r for r in results if isinstance(r, tuple) and r[1] is False]
    for r in results:
        assert isinstance(r, (tuple, IdempotencyInProgressError)), r
    assert len(created) == 1
    assert await count_things(sessions, name) == 1


async def test_a_rolled_back_request_frees_its_key(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    fingerprint = request_fingerprint("POST", "/things", {"name": name})
    async with sessions() as session, session.begin():
        idem = SqlaIdempotencyRecords(session, records)
        assert await idem.claim(scope=scope, key=key, fingerprint=fingerprint) is None
        await session.rollback()
    _, replayed = await create_thing(sessions, scope, key, name)
    assert replayed is False


async def test_expired_keys_are_free_again_and_purged(sessions) -> None:
    scope, key, name = "org-a:create_thing", uuid.uuid4().hex, uuid.uuid4().hex
    clock = FrozenClock(datetime.now(UTC) - timedelta(days=2))
    await create_thing(sessions, scope, key, name, clock=clock)
    _, replayed = await create_thing(sessions, scope, key, name + "-again")
    assert replayed is False  # the stored one expired a day ago
    stale_key = uuid.uuid4().hex
    await create_thing(sessions, scope, stale_key, uuid.uuid4().hex, clock=clock)
    async with sessions() as session, session.begin():
        purged = await SqlaIdempotencyRecords(session, records).purge_expired(now=datetime.now(UTC))
    assert purged >= 1
    async with sessions() as session:
        left = await session.scalar(
            select(func.count()).select_from(records).where(records.c.key == stale_key)
        )
    assert left == 0


async def test_complete_without_claim_is_a_bug(sessions) -> None:
    async with sessions() as session, session.begin():
        idem = SqlaIdempotencyRecords(session, records)
        with pytest.raises(RuntimeError):
            await idem.complete(scope="s", key="never-claimed", response=IdempotentResponse(201))
