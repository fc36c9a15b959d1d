"""Payments remember the trace context of their last change, for the worker's attempts.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing and older rows simply have none.
    op.add_column(
        "payments",
        sa.Column(
            "trace_context",
            sa.JSON(),
            nullable=True,
            comment="W3C trace context of the last change: the worker's attempts join that trace",
        ),
    )


def downgrade() -> None:
    op.drop_column("payments", "trace_context")
