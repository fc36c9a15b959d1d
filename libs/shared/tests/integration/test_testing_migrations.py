"""shared.testing.migrations fails where a service's migrations are wrong, and only there."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, Table, Text

from shared.settings import DatabaseSettings
from shared.testing.migrations import Alembic, assert_no_drift, assert_stairway

pytestmark = pytest.mark.integration

_ENV = """
from sqlalchemy import MetaData
from shared.db.migrations import run_migrations
from shared.settings import ServiceSettings

run_migrations(ServiceSettings(), MetaData())
"""

_REVISION = """
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("widgets", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    {downgrade}
"""


def _service(root: Path, downgrade: str) -> Alembic:
    """A one-revision service in ``root`` whose downgrade runs ``downgrade``."""
    versions = root / "migrations" / "versions"
    versions.mkdir(parents=True)
    (root / "alembic.ini").write_text("[alembic]\nscript_location = %(here)s/migrations\n")
    (root / "migrations" / "env.py").write_text(_ENV)
    (versions / "0001_widgets.py").write_text(_REVISION.format(downgrade=downgrade))
    return Alembic(root)


@pytest.fixture
def scratch(ordo_scratch_database: DatabaseSettings) -> DatabaseSettings:
    """A database of this test's own."""
    return ordo_scratch_database


def _widgets(*extra: Column[str]) -> MetaData:
    metadata = MetaData()
    Table("widgets", metadata, Column("id", Integer, primary_key=True), *extra)
    return metadata


async def test_a_sound_history_passes_both_checks(
    tmp_path: Path, scratch: DatabaseSettings
) -> None:
    alembic = _service(tmp_path, 'op.drop_table("widgets")')
    await assert_stairway(alembic, scratch)
    await assert_no_drift(scratch, _widgets())


async def test_a_downgrade_that_leaves_its_table_fails_the_stairway(
    tmp_path: Path, scratch: DatabaseSettings
) -> None:
    alembic = _service(tmp_path, "pass")
    with pytest.raises(Exception, match="widgets"):
        await assert_stairway(alembic, scratch)


async def test_a_model_the_migrations_do_not_create_is_drift(
    tmp_path: Path, scratch: DatabaseSettings
) -> None:
    alembic = _service(tmp_path, 'op.drop_table("widgets")')
    await alembic.upgrade_head(scratch)
    with pytest.raises(AssertionError, match="differs from the models"):
        await assert_no_drift(scratch, _widgets(Column("name", Text)))


async def test_an_empty_history_is_not_a_passing_stairway(
    tmp_path: Path, scratch: DatabaseSettings
) -> None:
    alembic = _service(tmp_path, "pass")
    (tmp_path / "migrations" / "versions" / "0001_widgets.py").unlink()
    with pytest.raises(AssertionError, match="no revisions"):
        await assert_stairway(alembic, scratch)
