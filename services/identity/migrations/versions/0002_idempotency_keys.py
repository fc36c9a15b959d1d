"""Idempotency-Key records of signUp and addMember (shared.db.idempotency).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from shared.db.idempotency import downgrade_idempotency, upgrade_idempotency

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    upgrade_idempotency(op)


def downgrade() -> None:
    downgrade_idempotency(op)
