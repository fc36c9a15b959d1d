"""Dead pooled connections and unreachable databases, for real (no ``pool_pre_ping``).

Backends are killed with ``pg_terminate_backend`` by this test's own application_name, in this
worker's own database, as a database restart would kill them; the shared server stays up.
"""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Uuid, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import (
    ReadOnlyDatabase,
    SqlaUnitOfWork,
    check_postgres,
    create_engine,
    create_session_factory,
)
from shared.errors import (
    DependencyUnavailableError,
    infrastructure_error_for,
    is_lost_connection,
)
from shared.outbox import Outbox, outbox_table
from shared.outbox.testing import drop_outbox, install_outbox
from shared.resilience import RECONNECT, run_with_retry
from shared.settings import DatabaseSettings
from shared.testing import Endpoints

pytestmark = pytest.mark.integration

_metadata = MetaData()
_counters = Table(
    f"reconnect_{uuid.uuid4().hex[:8]}",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("n", Integer, nullable=False),
)


@pytest.fixture
def app_name() -> str:
    return f"reconnect-{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def engine(ordo_database: DatabaseSettings, app_name: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name=app_name)
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def outbox(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield Outbox(outbox_table(MetaData(), name), source="/ordo/test", notify=False)
    await drop_outbox(engine, name)


async def terminate(endpoints: Endpoints, application_name: str) -> int:
    """Kill the backends of ``application_name`` (a restart, for this engine only)."""
    conn = await asyncpg.connect(endpoints.postgres_admin_dsn)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = $1",
            application_name,
        )
    finally:
        await conn.close()
    await asyncio.sleep(0.1)
    return int(killed or 0)


async def fill_pool(engine: AsyncEngine, size: int = 3) -> None:
    """Check out ``size`` connections at once and return them: the pool holds them idle."""
    conns = [await engine.connect() for _ in range(size)]
    for conn in conns:
        await conn.execute(text("SELECT 1"))
    for conn in conns:
        await conn.close()


async def test_a_read_on_a_dead_pooled_connection_runs_again_on_a_fresh_one(
    engine: AsyncEngine, ordo_endpoints: Endpoints, app_name: str
) -> None:
    db = ReadOnlyDatabase(engine)
    await fill_pool(engine)
    assert await terminate(ordo_endpoints, app_name) == 3

    rows = await db.all(select(func.count()).select_from(_counters))

    assert rows[0][0] == 0
    # Every other idle connection was invalidated with the first: no second failure.
    assert await db.first(text("SELECT 42")) == (42,)


async def test_a_repository_read_on_a_dead_pooled_connection_runs_again(
    engine: AsyncEngine, ordo_endpoints: Endpoints, app_name: str
) -> None:
    db = ReadOnlyDatabase(engine)
    await fill_pool(engine)
    assert await terminate(ordo_endpoints, app_name) == 3
    calls = 0

    async def read(conn: AsyncConnection) -> int:
        nonlocal calls
        calls += 1
        return int(await conn.scalar(select(func.count()).select_from(_counters)) or 0)

    assert await db.run(read) == 0
    assert calls == 2  # the dead connection's attempt, then a fresh one


async def test_the_readiness_probe_survives_a_restart(
    engine: AsyncEngine, ordo_endpoints: Endpoints, app_name: str
) -> None:
    await fill_pool(engine)
    assert await terminate(ordo_endpoints, app_name) >= 1

    await check_postgres(engine)


async def test_a_unit_of_work_that_lost_its_connection_before_commit_runs_again(
    engine: AsyncEngine, outbox: Outbox, ordo_endpoints: Endpoints, app_name: str
) -> None:
    sessions = create_session_factory(engine)
    row_id = uuid.uuid4()
    attempts = 0

    async def use_case() -> None:
        nonlocal attempts
        attempts += 1
        async with SqlaUnitOfWork(sessions, outbox=outbox, mapper=lambda e: e) as uow:  # type: ignore[arg-type,return-value]
            await uow.session.execute(_counters.insert().values(id=row_id, n=attempts))
            await uow.commit()

    await fill_pool(engine)
    assert await terminate(ordo_endpoints, app_name) >= 1

    await run_with_retry(use_case, policy=RECONNECT, operation="test.use_case")

    assert attempts == 2
    async with engine.connect() as conn:
        stored = (await conn.execute(select(_counters.c.n).where(_counters.c.id == row_id))).all()
    assert stored == [(2,)]  # the first attempt left nothing behind


async def test_a_connection_lost_during_commit_is_a_503_never_rerun(
    engine: AsyncEngine, outbox: Outbox, ordo_endpoints: Endpoints, app_name: str
) -> None:
    sessions = create_session_factory(engine)
    attempts = 0

    async def use_case() -> None:
        nonlocal attempts
        attempts += 1
        async with SqlaUnitOfWork(sessions, outbox=outbox, mapper=lambda e: e) as uow:  # type: ignore[arg-type,return-value]
            await uow.session.execute(_counters.insert().values(id=uuid.uuid4(), n=1))
            await terminate(ordo_endpoints, app_name)  # between the last statement and COMMIT
            await uow.commit()

    with pytest.raises(DependencyUnavailableError) as raised:
        await run_with_retry(use_case, policy=RECONNECT, operation="test.use_case")

    assert attempts == 1
    assert is_lost_connection(raised.value.__cause__ or raised.value)
    assert not is_lost_connection(raised.value)


async def test_an_unreachable_database_is_a_dependency_unavailable_error(
    ordo_database: DatabaseSettings,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    engine = create_engine(ordo_database.model_copy(update={"port": closed_port}))
    try:
        # asyncpg lets the socket's error through: ConnectionRefusedError, no SQLAlchemy wrapper.
        with pytest.raises(ConnectionRefusedError) as raised:
            await ReadOnlyDatabase(engine).all(text("SELECT 1"))
        with pytest.raises(ConnectionRefusedError):
            await check_postgres(engine)
    finally:
        await engine.dispose()

    assert isinstance(infrastructure_error_for(raised.value), DependencyUnavailableError)
    assert not is_lost_connection(raised.value)  # nothing to run again on: the server is gone
