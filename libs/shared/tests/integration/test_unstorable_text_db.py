"""Why shared.text exists, proven against the real PostgreSQL: what it calls unstorable is refused
by the database (or cannot even be sent), as a permanent error; what it lets through is stored
and read back unchanged.

A consumer that lets such a string reach its transaction does dead-letter the record today (the
failure is permanent), but only after the transaction (and, in a batch, every record applied
with it) is rolled back; refusing it when the payload is decoded (``shared.text.require_storable``)
costs nothing and names the field.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import create_engine
from shared.errors import is_transient
from shared.settings import DatabaseSettings
from shared.text import is_storable

pytestmark = pytest.mark.integration

UNSTORABLE = ["a\x00b", "a\ud800b", "\udfff"]
STORABLE = ["plain", "é 中文 \U0001f600", "\ufffd", "\x01\x7f", "\\u0000 as text"]


@pytest.fixture
async def engine(ordo_database: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(ordo_database)
    yield engine
    await engine.dispose()


@pytest.mark.parametrize("value", UNSTORABLE)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "jsonb"])
async def test_postgres_refuses_what_is_unstorable_as_a_permanent_error(
    engine: AsyncEngine, value: str, *, as_json: bool
) -> None:
    assert not is_storable(value)
    statement = "SELECT CAST(:v AS jsonb)" if as_json else "SELECT CAST(:v AS text)"
    # jsonb is sent as JSON text, escaped as SQLAlchemy's JSON type does (ensure_ascii).
    param = json.dumps({"name": value}) if as_json else value
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the driver's class varies by case
        async with engine.connect() as connection:
            await connection.execute(text(statement), {"v": param})
    assert not is_transient(caught.value), repr(caught.value)


@pytest.mark.parametrize("value", STORABLE)
async def test_what_is_storable_round_trips(engine: AsyncEngine, value: str) -> None:
    assert is_storable(value)
    async with engine.connect() as connection:
        plain = await connection.scalar(text("SELECT CAST(:v AS text)"), {"v": value})
        document = await connection.scalar(
            text("SELECT CAST(:v AS jsonb)"), {"v": json.dumps({"name": value})}
        )
    assert plain == value
    assert document == {"name": value}
