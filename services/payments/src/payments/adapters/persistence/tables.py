"""Payments' tables (SQLAlchemy Core); the migrations and the drift test use this metadata.

``payments.order_id`` is unique: one payment per order, ever (invariant 3), whatever reaches
the database. ``payments_due_idx`` covers only rows the worker still has to look at.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)

from shared import pii
from shared.db import service_metadata
from shared.outbox import outbox_table

__all__ = ["attempts", "metadata", "outbox", "payments", "tombstones"]

metadata = service_metadata()

_TS = DateTime(timezone=True)

payments = Table(
    "payments",
    metadata,
    Column(
        "id", Uuid, primary_key=True, comment="also the provider's idempotency key", info=pii.none()
    ),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column("order_id", Uuid, nullable=False, info=pii.none()),
    Column("amount_minor", BigInteger, nullable=False, info=pii.none()),
    Column("currency", String(3), nullable=False, info=pii.none()),
    Column("provider", String(64), nullable=False, info=pii.none()),
    Column("status", String(16), nullable=False, info=pii.none()),
    Column(
        "causation_id",
        Uuid,
        nullable=False,
        comment="ce_id of order.payment_requested",
        info=pii.none(),
    ),
    Column(
        "next_attempt_at",
        _TS,
        nullable=True,
        comment="due for the worker; NULL: no work",
        info=pii.none(),
    ),
    Column("postponements", Integer, nullable=False, info=pii.none()),
    Column("claim_token", Uuid, nullable=True, info=pii.none("a worker's lease, not a credential")),
    Column("claimed_until", _TS, nullable=True, comment="a worker's lease", info=pii.none()),
    Column("provider_reference", String(200), nullable=True, info=pii.none()),
    Column("failure_reason", String(32), nullable=True, info=pii.none()),
    Column("provider_code", String(100), nullable=True, info=pii.none()),
    Column("authorized_at", _TS, nullable=True, info=pii.none()),
    Column("cancel_causation_id", Uuid, nullable=True, info=pii.none()),
    Column("voided_at", _TS, nullable=True, info=pii.none()),
    Column(
        "voiding_since",
        _TS,
        nullable=True,
        comment="when the payment first went to voiding (its order was cancelled)",
        info=pii.none(),
    ),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    Column(
        "trace_context",
        JSON,
        nullable=True,
        comment="W3C trace context of the last change: the worker's attempts join that trace",
        info=pii.none(),
    ),
    UniqueConstraint("order_id"),
    CheckConstraint("amount_minor >= 0", name="amount"),
    CheckConstraint(
        "status IN ('pending', 'authorized', 'failed', 'voiding', 'voided', 'cancelled')",
        name="status",
    ),
    CheckConstraint("postponements >= 0", name="postponements"),
    info=pii.held_for(
        "one payment per order, authorised and voided with the provider", retention="payments"
    ),
)
Index(
    "payments_due_idx",
    payments.c.next_attempt_at,
    postgresql_where=payments.c.next_attempt_at.is_not(None),
)

attempts = Table(
    "payment_attempts",
    metadata,
    Column(
        "payment_id",
        Uuid,
        ForeignKey("payments.id", ondelete="CASCADE"),
        primary_key=True,
        info=pii.none(),
    ),
    Column("number", Integer, primary_key=True, info=pii.none()),
    Column("attempted_at", _TS, nullable=False, info=pii.none()),
    Column("outcome", String(16), nullable=False, info=pii.none()),
    Column("provider_status", Integer, nullable=True, info=pii.none()),
    Column("duration_ms", Integer, nullable=False, info=pii.none()),
    CheckConstraint("number >= 1", name="number"),
    CheckConstraint(
        "outcome IN ('authorized', 'declined', 'provider_error', 'timeout', 'circuit_open')",
        name="outcome",
    ),
    info=pii.held_for("each call to the provider, for support and metrics", retention="payments"),
)

tombstones = Table(
    "payment_tombstones",
    metadata,
    Column("order_id", Uuid, primary_key=True, info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column(
        "causation_id",
        Uuid,
        nullable=False,
        comment="ce_id of order.cancel_requested",
        info=pii.none(),
    ),
    Column("cancelled_at", _TS, nullable=False, info=pii.none()),
    comment="orders cancelled before payment was asked: a late payment request does nothing",
    info=pii.held_for("orders cancelled before their payment was asked", retention="payments"),
)

outbox = outbox_table(metadata)
