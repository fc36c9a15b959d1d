"""Catalog's jobs (shared.jobs): bulk stock imports with heartbeat, progress and checkpoints.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from shared.jobs.sqla import downgrade_jobs, upgrade_jobs

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_jobs(op)


def downgrade() -> None:
    downgrade_jobs(op)
