"""Notifications' schema: webhook endpoints, deliveries and their attempts, idempotency keys,
the outbox and the inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from shared.db.idempotency import downgrade_idempotency, upgrade_idempotency
from shared.inbox import downgrade_inbox, upgrade_inbox
from shared.outbox import downgrade_outbox, upgrade_outbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
EVENT_TYPES = (
    "'order.placed', 'order.confirmed', 'order.rejected', 'order.cancelled', "
    "'payment.authorized', 'payment.failed'"
)
OPEN = "status IN ('pending', 'retrying')"


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("description", sa.String(500), nullable=True),
        sa.Column("event_types", postgresql.ARRAY(sa.String(32)), nullable=False),
        sa.Column("secret", sa.String(128), nullable=True, comment="whsec_...; NULL once deleted"),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(16), nullable=True),
        sa.Column("failing_since", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("deleted_at", TS, nullable=True),
        sa.CheckConstraint(
            "cardinality(event_types) >= 1", name="webhook_endpoints_event_types_ck"
        ),
        sa.CheckConstraint(
            "deleted_at IS NULL OR secret IS NULL", name="webhook_endpoints_secret_erased_ck"
        ),
        sa.PrimaryKeyConstraint("id", name="webhook_endpoints_pkey"),
    )
    op.create_index("webhook_endpoints_org_id_id_idx", "webhook_endpoints", ["org_id", "id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("org_id", sa.Uuid(), nullable=False),
        sa.Column("endpoint_id", sa.Uuid(), nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="ce_id of the event delivered"),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column(
            "body", sa.Text(), nullable=False, comment="the exact JSON body every attempt sends"
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempt_count", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column(
            "lease_token",
            sa.Uuid(),
            nullable=True,
            comment="the worker holding it, until next_attempt_at",
        ),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("delivered_at", TS, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'retrying', 'succeeded', 'failed')",
            name="webhook_deliveries_status_ck",
        ),
        sa.CheckConstraint(
            f"event_type IN ({EVENT_TYPES})", name="webhook_deliveries_event_type_ck"
        ),
        sa.CheckConstraint(
            f"({OPEN}) = (next_attempt_at IS NOT NULL)", name="webhook_deliveries_due_ck"
        ),
        sa.CheckConstraint("attempt_count >= 0", name="webhook_deliveries_attempt_count_ck"),
        sa.ForeignKeyConstraint(
            ["endpoint_id"],
            ["webhook_endpoints.id"],
            name="webhook_deliveries_endpoint_id_fkey",
        ),
        sa.PrimaryKeyConstraint("id", name="webhook_deliveries_pkey"),
        sa.UniqueConstraint(
            "endpoint_id", "event_id", name="webhook_deliveries_endpoint_id_event_id_key"
        ),
    )
    op.create_index(
        "webhook_deliveries_due_idx",
        "webhook_deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text(OPEN),
    )
    op.create_index(
        "webhook_deliveries_endpoint_id_id_idx", "webhook_deliveries", ["endpoint_id", "id"]
    )
    op.create_index(
        "webhook_deliveries_finished_idx",
        "webhook_deliveries",
        ["updated_at"],
        postgresql_where=sa.text("status IN ('succeeded', 'failed')"),
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column("delivery_id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("attempted_at", TS, nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(16), nullable=True),
        sa.CheckConstraint("number >= 1", name="webhook_delivery_attempts_number_ck"),
        sa.CheckConstraint("duration_ms >= 0", name="webhook_delivery_attempts_duration_ck"),
        sa.CheckConstraint(
            "error IS NULL OR error IN ('connect_error', 'timeout', 'http_status', 'circuit_open')",
            name="webhook_delivery_attempts_error_ck",
        ),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["webhook_deliveries.id"],
            name="webhook_delivery_attempts_delivery_id_fkey",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("delivery_id", "number", name="webhook_delivery_attempts_pkey"),
    )
    upgrade_idempotency(op)
    upgrade_outbox(op)
    upgrade_inbox(op)


def downgrade() -> None:
    downgrade_inbox(op)
    downgrade_outbox(op)
    downgrade_idempotency(op)
    op.drop_table("webhook_delivery_attempts")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
