"""The purge of expired Idempotency-Keys on the real database, and the API process running it
periodically for as long as its lifespan lasts."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from asgi_lifespan import LifespanManager
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity.adapters.persistence.tables import idempotency_keys
from identity.bootstrap import PURGE_JOB, IdentitySettings, build_app, build_use_cases
from shared.clock import FrozenClock
from shared.db import create_engine, create_session_factory
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.idempotency import IdempotentResponse
from shared.inbox.testing import wait_until
from shared.observability.metrics import default_metrics
from shared.periodic import PeriodicJob
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration

TTL = timedelta(hours=24)


@pytest.fixture(scope="module")
async def sessions(migrated: DatabaseSettings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(migrated, application_name="identity-purge-tests")
    yield create_session_factory(engine)
    await engine.dispose()


async def claimed(
    sessions: async_sessionmaker[AsyncSession], scope: str, key: str, at: datetime
) -> None:
    """A completed record of ``key`` claimed at ``at`` (so it expires at ``at + TTL``)."""
    async with sessions() as session, session.begin():
        records = SqlaIdempotencyRecords(session, idempotency_keys, ttl=TTL, clock=FrozenClock(at))
        assert await records.claim(scope=scope, key=key, fingerprint="fp") is None
        await records.complete(scope=scope, key=key, response=IdempotentResponse(201, {"id": 1}))


async def keys_in(sessions: async_sessionmaker[AsyncSession], scope: str) -> list[str]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT key FROM idempotency_keys WHERE scope = :scope ORDER BY key"),
            {"scope": scope},
        )
        return [row[0] for row in rows]


def job_runs(outcome: str) -> float:
    sample = default_metrics().registry.get_sample_value(
        "jobs_total", {"job": PURGE_JOB, "outcome": outcome}
    )
    return sample or 0.0


async def test_the_purge_deletes_expired_records_and_keeps_live_ones(
    identity_settings: IdentitySettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    scope = f"purge-test:{uuid.uuid4()}"
    now = datetime.now(UTC)
    # Both still live on the real clock, so no API process purges them behind the test's back.
    await claimed(sessions, scope, "older", now - timedelta(hours=23))
    await claimed(sessions, scope, "newer", now)
    clock = FrozenClock(now + timedelta(hours=1))  # "older" is 24 h old: expired
    use_cases = build_use_cases(identity_settings, sessions, clock=clock)
    assert await use_cases.purge_idempotency_keys() >= 1
    assert await keys_in(sessions, scope) == ["newer"]
    assert await use_cases.purge_idempotency_keys() == 0


async def test_the_api_purges_periodically_while_it_runs_and_stops_with_it(
    identity_settings: IdentitySettings, sessions: async_sessionmaker[AsyncSession]
) -> None:
    scope = f"purge-test:{uuid.uuid4()}"
    now = datetime.now(UTC)
    await claimed(sessions, scope, "expired", now - TTL - timedelta(minutes=1))
    await claimed(sessions, scope, "live", now)
    settings = identity_settings.model_copy(update={"idempotency_purge_interval_s": 0.05})
    succeeded, cancelled = job_runs("succeeded"), job_runs("cancelled")
    app = build_app(settings)
    async with LifespanManager(app):
        purge: PeriodicJob = app.state.idempotency_purge
        assert purge.running

        async def purged() -> bool:
            return await keys_in(sessions, scope) == ["live"]

        await wait_until(purged, timeout_s=10, message="expired record purged")

        async def ran_again() -> bool:
            return purge.runs >= 3

        await wait_until(ran_again, timeout_s=10, message="purge ran every interval")
    assert not purge.running
    assert job_runs("succeeded") - succeeded >= purge.runs
    assert job_runs("cancelled") == cancelled  # the run in progress finished, none was cut off
    assert await keys_in(sessions, scope) == ["live"]
