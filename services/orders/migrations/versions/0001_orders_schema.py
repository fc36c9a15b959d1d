"""Orders' schema: orders, order lines, idempotency keys, the outbox and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.db.idempotency import downgrade_idempotency, upgrade_idempotency
from shared.inbox import downgrade_inbox, upgrade_inbox
from shared.outbox import downgrade_outbox, upgrade_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
STATUSES = "('pending', 'awaiting_payment', 'confirmed', 'rejected', 'cancelling', 'cancelled')"


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Uuid(), nullable=False, comment="UUID v7: listing order"),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("placed_by", sa.Uuid(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("reservation_id", sa.Uuid(), nullable=True),
        sa.Column("payment_id", sa.Uuid(), nullable=True),
        sa.Column(
            "total_minor", sa.BigInteger(), nullable=True, comment="known once stock is reserved"
        ),
        sa.Column("status_reason", sa.String(32), nullable=True),
        sa.Column("deadline_at", TS, nullable=True, comment="the current saga step's deadline"),
        sa.Column("payment_requested_at", TS, nullable=True),
        sa.Column("cancel_requested_by", sa.Uuid(), nullable=True),
        sa.Column("cancel_note", sa.String(500), nullable=True),
        sa.Column("placed_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("confirmed_at", TS, nullable=True),
        sa.Column("closed_at", TS, nullable=True),
        sa.CheckConstraint(f"status IN {STATUSES}", name="orders_status_ck"),
        sa.CheckConstraint("version >= 1", name="orders_version_ck"),
        sa.CheckConstraint("total_minor IS NULL OR total_minor >= 0", name="orders_total_ck"),
        sa.CheckConstraint(
            "status NOT IN ('confirmed', 'rejected', 'cancelled') OR deadline_at IS NULL",
            name="orders_terminal_no_deadline_ck",
        ),
        sa.PrimaryKeyConstraint("id", name="orders_pkey"),
    )
    op.create_index("orders_org_id_id_idx", "orders", ["org_id", "id"])
    op.create_index("orders_org_id_status_id_idx", "orders", ["org_id", "status", "id"])
    op.create_index("orders_org_id_placed_by_id_idx", "orders", ["org_id", "placed_by", "id"])
    op.create_index(
        "orders_deadline_at_due_idx",
        "orders",
        ["deadline_at"],
        postgresql_where=sa.text("deadline_at IS NOT NULL"),
    )
    op.create_table(
        "order_lines",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("line_no", sa.SmallInteger(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=True, comment="known once stock is reserved"),
        sa.Column(
            "unit_price_minor",
            sa.BigInteger(),
            nullable=True,
            comment="catalog price at reservation",
        ),
        sa.CheckConstraint("quantity BETWEEN 1 AND 10000", name="order_lines_quantity_ck"),
        sa.CheckConstraint(
            "unit_price_minor IS NULL OR unit_price_minor >= 0", name="order_lines_price_ck"
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name="order_lines_order_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("order_id", "line_no", name="order_lines_pkey"),
    )
    op.create_index("order_lines_order_id_sku_idx", "order_lines", ["order_id", "sku"], unique=True)
    upgrade_idempotency(op)
    upgrade_outbox(op)
    upgrade_inbox(op)


def downgrade() -> None:
    downgrade_inbox(op)
    downgrade_outbox(op)
    downgrade_idempotency(op)
    op.drop_table("order_lines")
    op.drop_table("orders")
