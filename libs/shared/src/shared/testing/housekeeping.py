"""A service's housekeeping, checked on its migrated database.

A service's integration test calls :func:`check_housekeeping` with its spec and settings: the
chores it declares are the ones expected, each runs once and succeeds, and the expired
Idempotency-Keys go while the live ones stay. What each common chore deletes, and what it keeps,
is proven in the chassis' own tests (libs/shared/tests/integration/test_housekeeping.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.clock import FrozenClock
from shared.db import create_engine, create_session_factory
from shared.db.idempotency import SqlaIdempotencyRecords
from shared.housekeeping import Chore, Housekeeping
from shared.idempotency import IdempotentResponse
from shared.observability.metrics import Metrics
from shared.process import ServiceSpec
from shared.settings import ServiceSettings

__all__ = ["check_housekeeping"]

_TTL = timedelta(hours=24)


async def check_housekeeping(
    spec: ServiceSpec[Any],
    settings: ServiceSettings,
    *,
    expected: Iterable[str],
    idempotency_keys: Table | None = None,
) -> None:
    """Run ``spec``'s chores once on ``settings.database``, an hour from now, and check them.

    ``expected``: the chores' names without the ``<service>.`` prefix.
    """
    if spec.housekeeping is None:
        raise AssertionError(f"{spec.distribution} declares no housekeeping")
    engine = create_engine(settings.database, application_name="housekeeping-tests")
    try:
        await _check(spec.housekeeping, settings, engine, expected, idempotency_keys)
    finally:
        await engine.dispose()


async def _check(
    chores: Callable[..., Sequence[Chore]],
    settings: ServiceSettings,
    engine: AsyncEngine,
    names: Iterable[str],
    idempotency_keys: Table | None,
) -> None:
    expected = {f"{settings.service_name}.{name}" for name in names}
    now = datetime.now(UTC)
    scope = f"housekeeping-test:{uuid.uuid4()}"
    if idempotency_keys is not None:
        await _claim(engine, idempotency_keys, scope, "due", now - _TTL + timedelta(minutes=30))
        await _claim(engine, idempotency_keys, scope, "live", now)
    metrics = Metrics(CollectorRegistry())
    keeper = Housekeeping(
        chores(settings, engine, clock=FrozenClock(now + timedelta(hours=1))), metrics=metrics
    )
    declared = {chore.name for chore in keeper.chores}
    if declared != expected:
        raise AssertionError(f"declared chores {sorted(declared)}, expected {sorted(expected)}")
    outcomes = await keeper.run_once()
    if outcomes != dict.fromkeys(expected, True):
        raise AssertionError(f"not every chore succeeded: {outcomes}")
    for name in expected:
        last = metrics.registry.get_sample_value(
            "housekeeping_last_success_timestamp_seconds", {"job": name}
        )
        if last is None or last <= now.timestamp():
            raise AssertionError(f"{name}: no last success recorded")
    if idempotency_keys is not None:
        async with engine.connect() as conn:
            keys = (
                await conn.execute(
                    select(idempotency_keys.c.key).where(idempotency_keys.c.scope == scope)
                )
            ).scalars()
            left = list(keys)
            if left != ["live"]:
                raise AssertionError(f"keys left after the purge: {left}, expected ['live']")


async def _claim(engine: AsyncEngine, table: Table, scope: str, key: str, at: datetime) -> None:
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        records = SqlaIdempotencyRecords(session, table, ttl=_TTL, clock=FrozenClock(at))
        if await records.claim(scope=scope, key=key, fingerprint="fp") is not None:
            raise AssertionError(f"key {key!r} of {scope!r} was already claimed")
        await records.complete(scope=scope, key=key, response=IdempotentResponse(201, {}))
