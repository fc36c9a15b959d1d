"""Notifications' tables (SQLAlchemy Core); the migrations and the drift test use this metadata.

The claim index is partial (open deliveries only, by due time), so the worker's query stays
small however long the delivery log grows.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY

from shared.db import service_metadata
from shared.db.idempotency import idempotency_table
from shared.outbox import outbox_table

__all__ = [
    "EVENT_TYPES_SQL",
    "attempts",
    "deliveries",
    "endpoints",
    "idempotency_keys",
    "metadata",
    "outbox",
]

metadata = service_metadata()

_TS = DateTime(timezone=True)
EVENT_TYPES_SQL = (
    "'order.placed', 'order.confirmed', 'order.rejected', 'order.cancelled', "
    "'payment.authorized', 'payment.failed'"
)

endpoints = Table(
    "webhook_endpoints",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("description", String(500), nullable=True),
    Column("event_types", ARRAY(String(32)), nullable=False),
    Column("secret", String(128), nullable=True, comment="whsec_...; NULL once deleted"),
    Column("enabled", Boolean, nullable=False),
    Column("disabled_reason", String(16), nullable=True),
    Column("failing_since", _TS, nullable=True),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("deleted_at", _TS, nullable=True),
    CheckConstraint("cardinality(event_types) >= 1", name="event_types"),
    CheckConstraint("deleted_at IS NULL OR secret IS NULL", name="secret_erased"),
    Index("webhook_endpoints_org_id_id_idx", "org_id", "id"),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("endpoint_id", Uuid, ForeignKey("webhook_endpoints.id"), nullable=False),
    Column("event_id", Uuid, nullable=False, comment="ce_id of the event delivered"),
    Column("event_type", String(32), nullable=False),
    Column("body", Text, nullable=False, comment="the exact JSON body every attempt sends"),
    Column("status", String(16), nullable=False),
    Column("attempt_count", Integer, nullable=False),
    Column("next_attempt_at", _TS, nullable=True),
    Column(
        "lease_token", Uuid, nullable=True, comment="the worker holding it, until next_attempt_at"
    ),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column("delivered_at", _TS, nullable=True),
    Column(
        "trace_context",
        JSON,
        nullable=True,
        comment="W3C trace context of the event that scheduled it: attempts join that trace",
    ),
    UniqueConstraint("endpoint_id", "event_id"),
    CheckConstraint("status IN ('pending', 'retrying', 'succeeded', 'failed')", name="status"),
    CheckConstraint(f"event_type IN ({EVENT_TYPES_SQL})", name="event_type"),
    CheckConstraint(
        "(status IN ('pending', 'retrying')) = (next_attempt_at IS NOT NULL)", name="due"
    ),
    CheckConstraint("attempt_count >= 0", name="attempt_count"),
    Index(
        "webhook_deliveries_due_idx",
        "next_attempt_at",
        postgresql_where=text("status IN ('pending', 'retrying')"),
    ),
    Index("webhook_deliveries_endpoint_id_id_idx", "endpoint_id", "id"),
    Index(
        "webhook_deliveries_finished_idx",
        "updated_at",
        postgresql_where=text("status IN ('succeeded', 'failed')"),
    ),
)

attempts = Table(
    "webhook_delivery_attempts",
    metadata,
    Column(
        "delivery_id",
        Uuid,
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("number", Integer, primary_key=True),
    Column("attempted_at", _TS, nullable=False),
    Column("response_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    Column("error", String(16), nullable=True),
    CheckConstraint("number >= 1", name="number"),
    CheckConstraint("duration_ms >= 0", name="duration"),
    CheckConstraint(
        "error IS NULL OR error IN ('connect_error', 'timeout', 'http_status', 'circuit_open')",
        name="error",
    ),
)

outbox = outbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
