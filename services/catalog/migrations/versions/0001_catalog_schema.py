"""Catalog's schema: products, stock levels, reservations, rejections, the outbox and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.inbox import downgrade_inbox, upgrade_inbox
from shared.outbox import downgrade_outbox, upgrade_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("description", sa.String(2000), nullable=True),
        sa.Column("price_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("price_minor >= 0", name="products_price_ck"),
        sa.PrimaryKeyConstraint("id", name="products_pkey"),
        sa.UniqueConstraint("org_id", "sku", name="products_org_id_sku_key"),
    )
    op.create_table(
        "stock_items",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("on_hand", sa.BigInteger(), nullable=False),
        sa.Column("reserved", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="stock_items_levels_ck"),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="stock_items_product_id_fkey", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("product_id", name="stock_items_pkey"),
        sa.UniqueConstraint("org_id", "sku", name="stock_items_org_id_sku_key"),
    )
    op.create_table(
        "reservations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("lines", postgresql.JSONB(), nullable=False, comment="priced lines, as reserved"),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('held', 'committed', 'released')", name="reservations_status_ck"
        ),
        sa.PrimaryKeyConstraint("id", name="reservations_pkey"),
        sa.UniqueConstraint("org_id", "order_id", name="reservations_org_id_order_id_key"),
    )
    op.create_table(
        "rejections",
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("rejected_lines", postgresql.JSONB(), nullable=False),
        sa.Column("rejected_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("org_id", "order_id", name="rejections_pkey"),
        comment="orders refused at order.placed: a repeated order.placed answers the same again",
    )
    upgrade_outbox(op)
    upgrade_inbox(op)


def downgrade() -> None:
    downgrade_inbox(op)
    downgrade_outbox(op)
    op.drop_table("rejections")
    op.drop_table("reservations")
    op.drop_table("stock_items")
    op.drop_table("products")
