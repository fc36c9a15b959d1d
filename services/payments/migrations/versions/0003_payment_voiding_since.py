"""Payments remember when they started voiding: the age of money held for cancelled orders.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, no default: adding it rewrites nothing. Payments voiding before it existed are
    # aged from their last change (the gauge falls back to updated_at).
    op.add_column(
        "payments",
        sa.Column(
            "voiding_since",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="when the payment first went to voiding (its order was cancelled)",
        ),
    )


def downgrade() -> None:
    op.drop_column("payments", "voiding_since")
