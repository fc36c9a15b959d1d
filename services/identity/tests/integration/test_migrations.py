"""Migrations: every step upgrades and downgrades (stairway) and the schema equals the models."""

from __future__ import annotations

import pytest

from identity.adapters.persistence.tables import metadata
from shared.settings import DatabaseSettings
from shared.testing.migrations import assert_no_drift, assert_stairway

from .conftest import ALEMBIC

pytestmark = pytest.mark.integration


async def test_stairway_every_revision_goes_down_and_up(
    ordo_scratch_database: DatabaseSettings,
) -> None:
    await assert_stairway(ALEMBIC, ordo_scratch_database)


async def test_the_schema_has_no_drift_from_the_models(migrated: DatabaseSettings) -> None:
    await assert_no_drift(migrated, metadata)
