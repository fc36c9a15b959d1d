"""The unit of work against the real PostgreSQL: aggregates and their events in one transaction."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, Uuid, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import registry

from shared.db import SqlaUnitOfWork, create_engine, create_session_factory
from shared.errors import ConflictError
from shared.outbox import CE_TYPE, Outbox, OutboxMessage, RelayWakeup, outbox_table
from shared.outbox.testing import drop_outbox, install_outbox
from shared.settings import DatabaseSettings

pytestmark = pytest.mark.integration


# -- a tiny domain, mapped imperatively as a service would ---------------------------------------


@dataclasses.dataclass(frozen=True)
class OrderPlaced:
    order_id: uuid.UUID
    total: int


@dataclasses.dataclass(frozen=True)
class OrderPaid:
    order_id: uuid.UUID


class Order:
    def __init__(self, id: uuid.UUID, total: int) -> None:
        self.id, self.total, self.status = id, total, "placed"
        self._events: list[object] = [OrderPlaced(id, total)]

    def pay(self) -> None:
        self.status = "paid"
        self._record(OrderPaid(self.id))

    def _record(self, event: object) -> None:
        # The ORM does not call __init__ on load, so the list may not exist yet.
        self.__dict__.setdefault("_events", []).append(event)

    def pull_events(self) -> list[object]:
        events = self.__dict__.get("_events", [])
        self._events = []
        return events


_metadata = MetaData()
_orders = Table(
    f"uow_orders_{uuid.uuid4().hex[:8]}",
    _metadata,
    Column("id", Uuid, primary_key=True),
    Column("total", Integer, nullable=False),
    Column("status", String(20), nullable=False),
)
_mapper = registry()
_mapper.map_imperatively(Order, _orders)


def to_message(event: object) -> OutboxMessage:
    match event:
        case OrderPlaced(order_id=order_id, total=total):
            return OutboxMessage(
                topic="orders.events",
                key=str(order_id),
                type="ordo.orders.order_placed.v1",
                payload={"order_id": order_id, "total": total},
            )
        case OrderPaid(order_id=order_id):
            return OutboxMessage(
                topic="orders.events",
                key=str(order_id),
                type="ordo.orders.order_paid.v1",
                payload={"order_id": order_id},
            )
    raise TypeError(type(event).__name__)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database, application_name="test-uow")
    async with engine.begin() as conn:
        await conn.run_sync(_metadata.create_all)
    yield engine
    await engine.dispose()


@pytest.fixture
async def outbox(engine: AsyncEngine) -> AsyncIterator[Outbox]:
    name = f"outbox_{uuid.uuid4().hex[:10]}"
    await install_outbox(engine, name)
    yield Outbox(outbox_table(MetaData(), name), source="/ordo/orders", notify=False)
    await drop_outbox(engine, name)


def make_uow(engine: AsyncEngine, outbox: Outbox, wakeup: RelayWakeup | None = None):
    return SqlaUnitOfWork(
        create_session_factory(engine), outbox=outbox, mapper=to_message, doorbell=wakeup
    )


async def outbox_types(engine: AsyncEngine, outbox: Outbox) -> list[tuple[str, str]]:
    table = outbox.table
    async with engine.connect() as conn:
        rows = (
            await conn.execute(select(table.c.key, table.c.headers).order_by(table.c.seq))
        ).all()
    return [(key, headers[CE_TYPE]) for key, headers in rows]


# -- tests ---------------------------------------------------------------------------------------


async def test_commit_writes_aggregates_and_their_events_atomically_and_rings(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    wakeup = RelayWakeup()
    before = wakeup.generation
    a, b = Order(uuid.uuid4(), 10), Order(uuid.uuid4(), 20)
    async with make_uow(engine, outbox, wakeup) as uow:
        uow.session.add_all([a, b])
        uow.record(a.pull_events())
        a.pay()
        uow.record(a.pull_events())
        uow.record(b.pull_events())
        await uow.commit()
    assert wakeup.generation == before + 1

    assert await outbox_types(engine, outbox) == [
        (str(a.id), "ordo.orders.order_placed.v1"),
        (str(a.id), "ordo.orders.order_paid.v1"),
        (str(b.id), "ordo.orders.order_placed.v1"),
    ]
    async with engine.connect() as conn:
        stored = (
            await conn.execute(select(_orders.c.status).where(_orders.c.id == a.id))
        ).scalar_one()
    assert stored == "paid"

    # A loaded aggregate's new events are written in a later unit of work.
    async with make_uow(engine, outbox, wakeup) as uow:
        loaded = await uow.session.get(Order, b.id)
        assert loaded is not None
        loaded.pay()
        uow.record(loaded.pull_events())
        await uow.commit()
    assert (await outbox_types(engine, outbox))[-1] == (str(b.id), "ordo.orders.order_paid.v1")


async def test_an_error_or_a_missing_commit_rolls_back_everything(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    wakeup = RelayWakeup()
    order = Order(uuid.uuid4(), 10)

    async def failing_use_case() -> None:
        async with make_uow(engine, outbox, wakeup) as uow:
            uow.session.add(order)
            uow.record(order.pull_events())
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError, match="use case failed"):
        await failing_use_case()
    async with make_uow(engine, outbox, wakeup) as uow:
        other = Order(uuid.uuid4(), 5)
        uow.session.add(other)
        uow.record(other.pull_events())
        # no commit: leaving the block rolls back
    assert await outbox_types(engine, outbox) == []
    assert wakeup.generation == 0
    async with engine.connect() as conn:
        assert (
            await conn.execute(select(_orders.c.id).where(_orders.c.id == order.id))
        ).first() is None


async def test_extra_messages_and_single_commit(engine: AsyncEngine, outbox: Outbox) -> None:
    async with make_uow(engine, outbox) as uow:
        uow.publish(
            OutboxMessage(
                topic="payments.commands", key="p-1", type="ordo.payments.authorize.v1", payload={}
            )
        )
        await uow.commit()
        with pytest.raises(RuntimeError, match="already committed"):
            await uow.commit()
    with pytest.raises(RuntimeError, match="not open"):
        _ = uow.session
    assert await outbox_types(engine, outbox) == [("p-1", "ordo.payments.authorize.v1")]


async def test_an_unmapped_event_fails_the_use_case_and_writes_nothing(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    order = Order(uuid.uuid4(), 1)

    async def use_case() -> None:
        async with make_uow(engine, outbox) as uow:
            uow.session.add(order)
            uow.record(order.pull_events())
            uow.record(["not an event"])
            await uow.commit()

    with pytest.raises(TypeError, match="str"):
        await use_case()
    assert await outbox_types(engine, outbox) == []


async def _add_twice(uow: SqlaUnitOfWork, order_id: uuid.UUID) -> None:
    async with uow:
        uow.session.add(Order(order_id, 2))
        await uow.commit()


async def test_a_unique_violation_at_commit_is_a_conflict_when_asked(
    engine: AsyncEngine, outbox: Outbox
) -> None:
    order_id = uuid.uuid4()
    async with make_uow(engine, outbox) as uow:
        uow.session.add(Order(order_id, 1))
        await uow.commit()
    sessions = create_session_factory(engine)
    plain = SqlaUnitOfWork(sessions, outbox=outbox, mapper=to_message)
    with pytest.raises(IntegrityError):
        await _add_twice(plain, order_id)

    class ConflictingUnitOfWork(SqlaUnitOfWork):
        conflict_on_integrity_error = True

    conflicts = ConflictingUnitOfWork(sessions, outbox=outbox, mapper=to_message)
    with pytest.raises(ConflictError):
        await _add_twice(conflicts, order_id)
