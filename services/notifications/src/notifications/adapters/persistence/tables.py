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

from shared import pii
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
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column("url", String(2048), nullable=False, info=pii.none("the tenant's receiving system")),
    Column("description", String(500), nullable=True, info=pii.none()),
    Column("event_types", ARRAY(String(32)), nullable=False, info=pii.none()),
    Column(
        "secret",
        String(128),
        nullable=True,
        comment="whsec_...; NULL once deleted",
        info=pii.secret("signs the endpoint's webhooks; erased on delete"),
    ),
    Column("enabled", Boolean, nullable=False, info=pii.none()),
    Column("disabled_reason", String(16), nullable=True, info=pii.none()),
    Column("failing_since", _TS, nullable=True, info=pii.none()),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    Column("deleted_at", _TS, nullable=True, info=pii.none()),
    CheckConstraint("cardinality(event_types) >= 1", name="event_types"),
    CheckConstraint("deleted_at IS NULL OR secret IS NULL", name="secret_erased"),
    Index("webhook_endpoints_org_id_id_idx", "org_id", "id"),
    info=pii.held_for("where and how a tenant receives webhooks", retention="webhook-endpoints"),
)

deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column(
        "endpoint_id", Uuid, ForeignKey("webhook_endpoints.id"), nullable=False, info=pii.none()
    ),
    Column(
        "event_id", Uuid, nullable=False, comment="ce_id of the event delivered", info=pii.none()
    ),
    Column("event_type", String(32), nullable=False, info=pii.none()),
    Column(
        "body",
        Text,
        nullable=False,
        comment="the exact JSON body every attempt sends",
        info=pii.pseudonymous_id("the event as sent: user ids, no names or emails"),
    ),
    Column("status", String(16), nullable=False, info=pii.none()),
    Column("attempt_count", Integer, nullable=False, info=pii.none()),
    Column("next_attempt_at", _TS, nullable=True, info=pii.none()),
    Column(
        "lease_token",
        Uuid,
        nullable=True,
        comment="the worker holding it, until next_attempt_at",
        info=pii.none("a worker's lease, not a credential"),
    ),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    Column("delivered_at", _TS, nullable=True, info=pii.none()),
    Column(
        "trace_context",
        JSON,
        nullable=True,
        comment="W3C trace context of the event that scheduled it: attempts join that trace",
        info=pii.none(),
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
    info=pii.held_for(
        "each event owed to an endpoint, until delivered or failed", retention="deliveries"
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
        info=pii.none(),
    ),
    Column("number", Integer, primary_key=True, info=pii.none()),
    Column("attempted_at", _TS, nullable=False, info=pii.none()),
    Column("response_status", Integer, nullable=True, info=pii.none()),
    Column("duration_ms", Integer, nullable=False, info=pii.none()),
    Column("error", String(16), nullable=True, info=pii.none()),
    CheckConstraint("number >= 1", name="number"),
    CheckConstraint("duration_ms >= 0", name="duration"),
    CheckConstraint(
        "error IS NULL OR error IN ('connect_error', 'timeout', 'http_status', 'circuit_open')",
        name="error",
    ),
    info=pii.held_for("each attempt's outcome, for the delivery log", retention="deliveries"),
)

outbox = outbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
