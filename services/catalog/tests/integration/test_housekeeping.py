"""Catalog's housekeeping on its migrated database: the chores it declares run and
succeed, and expired Idempotency-Keys go while live ones stay (what each chore deletes is
proven by the chassis' tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from catalog.adapters.persistence.tables import idempotency_keys
from catalog.bootstrap import CatalogSettings
from catalog.housekeeping import chores
from shared.db import create_engine
from shared.settings import DatabaseSettings
from shared.testing.housekeeping import check_housekeeping

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_engine(migrated: DatabaseSettings) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(migrated, application_name="catalog-housekeeping-tests")
    yield engine
    await engine.dispose()


async def test_every_chore_runs_and_deletes_what_is_due(
    migrated: DatabaseSettings, own_engine: AsyncEngine
) -> None:
    await check_housekeeping(
        chores,
        CatalogSettings(database=migrated),
        own_engine,
        expected={
            f"catalog.{name}" for name in ("purge_idempotency_keys", "purge_inbox", "purge_outbox")
        },
        idempotency_keys=idempotency_keys,
    )
