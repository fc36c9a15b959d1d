"""Payments' schema: payments, their attempts, early-cancel tombstones, the outbox and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from shared.inbox import downgrade_inbox, upgrade_inbox
from shared.outbox import downgrade_outbox, upgrade_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "payments",
        sa.Column("id", sa.Uuid(), nullable=False, comment="also the provider's idempotency key"),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("provider", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column(
            "causation_id", sa.Uuid(), nullable=False, comment="ce_id of order.payment_requested"
        ),
        sa.Column(
            "next_attempt_at", TS, nullable=True, comment="due for the worker; NULL: no work"
        ),
        sa.Column("postponements", sa.Integer(), nullable=False),
        sa.Column("claim_token", sa.Uuid(), nullable=True),
        sa.Column("claimed_until", TS, nullable=True, comment="a worker's lease"),
        sa.Column("provider_reference", sa.String(200), nullable=True),
        sa.Column("failure_reason", sa.String(32), nullable=True),
        sa.Column("provider_code", sa.String(100), nullable=True),
        sa.Column("authorized_at", TS, nullable=True),
        sa.Column("cancel_causation_id", sa.Uuid(), nullable=True),
        sa.Column("voided_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.CheckConstraint("amount_minor >= 0", name="payments_amount_ck"),
        sa.CheckConstraint(
            "status IN ('pending', 'authorized', 'failed', 'voiding', 'voided', 'cancelled')",
            name="payments_status_ck",
        ),
        sa.CheckConstraint("postponements >= 0", name="payments_postponements_ck"),
        sa.PrimaryKeyConstraint("id", name="payments_pkey"),
        sa.UniqueConstraint("order_id", name="payments_order_id_key"),
    )
    op.create_index(
        "payments_due_idx",
        "payments",
        ["next_attempt_at"],
        postgresql_where=sa.text("next_attempt_at IS NOT NULL"),
    )
    op.create_table(
        "payment_attempts",
        sa.Column("payment_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("provider_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.CheckConstraint("number >= 1", name="payment_attempts_number_ck"),
        sa.CheckConstraint(
            "outcome IN ('authorized', 'declined', 'provider_error', 'timeout', 'circuit_open')",
            name="payment_attempts_outcome_ck",
        ),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["payments.id"],
            name="payment_attempts_payment_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("payment_id", "number", name="payment_attempts_pkey"),
    )
    op.create_table(
        "payment_tombstones",
        sa.Column("order_id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column(
            "causation_id", sa.Uuid(), nullable=False, comment="ce_id of order.cancel_requested"
        ),
        sa.Column("cancelled_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("order_id", name="payment_tombstones_pkey"),
        comment="orders cancelled before payment was asked: a late payment request does nothing",
    )
    upgrade_outbox(op)
    upgrade_inbox(op)


def downgrade() -> None:
    downgrade_inbox(op)
    downgrade_outbox(op)
    op.drop_table("payment_tombstones")
    op.drop_table("payment_attempts")
    op.drop_index("payments_due_idx", table_name="payments")
    op.drop_table("payments")
