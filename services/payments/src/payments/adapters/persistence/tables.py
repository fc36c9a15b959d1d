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

from shared.db import service_metadata
from shared.outbox import outbox_table

__all__ = ["attempts", "metadata", "outbox", "payments", "tombstones"]

metadata = service_metadata()

_TS = DateTime(timezone=True)

payments = Table(
    "payments",
    metadata,
    Column("id", Uuid, primary_key=True, comment="also the provider's idempotency key"),
    Column("org_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("provider", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("causation_id", Uuid, nullable=False, comment="ce_id of order.payment_requested"),
    Column("next_attempt_at", _TS, nullable=True, comment="due for the worker; NULL: no work"),
    Column("postponements", Integer, nullable=False),
    Column("claim_token", Uuid, nullable=True),
    Column("claimed_until", _TS, nullable=True, comment="a worker's lease"),
    Column("provider_reference", String(200), nullable=True),
    Column("failure_reason", String(32), nullable=True),
    Column("provider_code", String(100), nullable=True),
    Column("authorized_at", _TS, nullable=True),
    Column("cancel_causation_id", Uuid, nullable=True),
    Column("voided_at", _TS, nullable=True),
    Column(
        "voiding_since",
        _TS,
        nullable=True,
        comment="when the payment first went to voiding (its order was cancelled)",
    ),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    Column(
        "trace_context",
        JSON,
        nullable=True,
        comment="W3C trace context of the last change: the worker's attempts join that trace",
    ),
    UniqueConstraint("order_id"),
    CheckConstraint("amount_minor >= 0", name="amount"),
    CheckConstraint(
        "status IN ('pending', 'authorized', 'failed', 'voiding', 'voided', 'cancelled')",
        name="status",
    ),
    CheckConstraint("postponements >= 0", name="postponements"),
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
    ),
    Column("number", Integer, primary_key=True),
    Column("attempted_at", _TS, nullable=False),
    Column("outcome", String(16), nullable=False),
    Column("provider_status", Integer, nullable=True),
    Column("duration_ms", Integer, nullable=False),
    CheckConstraint("number >= 1", name="number"),
    CheckConstraint(
        "outcome IN ('authorized', 'declined', 'provider_error', 'timeout', 'circuit_open')",
        name="outcome",
    ),
)

tombstones = Table(
    "payment_tombstones",
    metadata,
    Column("order_id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("causation_id", Uuid, nullable=False, comment="ce_id of order.cancel_requested"),
    Column("cancelled_at", _TS, nullable=False),
    comment="orders cancelled before payment was asked: a late payment request does nothing",
)

outbox = outbox_table(metadata)
