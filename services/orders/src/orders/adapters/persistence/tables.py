"""Orders' tables (SQLAlchemy Core); the migrations and the drift test use this metadata.

The CHECK constraints are the last line of the saga's invariants should a bug slip past the
domain: a known status, versions from 1, a terminal order has no deadline and a closing time.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Uuid,
    text,
)

from shared import pii
from shared.db import service_metadata
from shared.db.idempotency import idempotency_table
from shared.outbox import outbox_table

__all__ = ["idempotency_keys", "metadata", "order_lines", "orders", "outbox"]

metadata = service_metadata()

_TS = DateTime(timezone=True)
STATUSES = ("pending", "awaiting_payment", "confirmed", "rejected", "cancelling", "cancelled")

orders = Table(
    "orders",
    metadata,
    Column("id", Uuid, primary_key=True, comment="UUID v7: listing order", info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column(
        "placed_by", Uuid, nullable=False, info=pii.pseudonymous_id("the user who placed the order")
    ),
    Column("currency", String(3), nullable=False, info=pii.none()),
    Column("status", String(16), nullable=False, info=pii.none()),
    Column("version", Integer, nullable=False, info=pii.none()),
    Column("reservation_id", Uuid, nullable=True, info=pii.none()),
    Column("payment_id", Uuid, nullable=True, info=pii.none()),
    Column(
        "total_minor",
        BigInteger,
        nullable=True,
        comment="known once stock is reserved",
        info=pii.none(),
    ),
    Column("status_reason", String(32), nullable=True, info=pii.none()),
    Column(
        "deadline_at",
        _TS,
        nullable=True,
        comment="the current saga step's deadline",
        info=pii.none(),
    ),
    Column("payment_requested_at", _TS, nullable=True, info=pii.none()),
    Column(
        "cancel_requested_by",
        Uuid,
        nullable=True,
        info=pii.pseudonymous_id("the user who asked to cancel"),
    ),
    Column(
        "cancel_note",
        String(500),
        nullable=True,
        info=pii.personal("free text the customer typed when cancelling"),
    ),
    Column("placed_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    Column("confirmed_at", _TS, nullable=True, info=pii.none()),
    Column("closed_at", _TS, nullable=True, info=pii.none()),
    CheckConstraint(f"status IN {STATUSES!r}", name="status"),
    CheckConstraint("version >= 1", name="version"),
    CheckConstraint("total_minor IS NULL OR total_minor >= 0", name="total"),
    CheckConstraint(
        "status NOT IN ('confirmed', 'rejected', 'cancelled') OR deadline_at IS NULL",
        name="terminal_no_deadline",
    ),
    Index(None, "org_id", "id"),
    Index(None, "org_id", "status", "id"),
    Index(None, "org_id", "placed_by", "id"),
    Index(
        "orders_deadline_at_due_idx",
        "deadline_at",
        postgresql_where=text("deadline_at IS NOT NULL"),
    ),
    info=pii.held_for("orders and the saga's state", retention="orders"),
)

order_lines = Table(
    "order_lines",
    metadata,
    Column(
        "order_id",
        Uuid,
        ForeignKey("orders.id", ondelete="CASCADE"),
        primary_key=True,
        info=pii.none(),
    ),
    Column("line_no", SmallInteger, primary_key=True, info=pii.none()),
    Column("sku", String(64), nullable=False, info=pii.none()),
    Column("quantity", Integer, nullable=False, info=pii.none()),
    Column(
        "product_id", Uuid, nullable=True, comment="known once stock is reserved", info=pii.none()
    ),
    Column(
        "unit_price_minor",
        BigInteger,
        nullable=True,
        comment="catalog price at reservation",
        info=pii.none(),
    ),
    CheckConstraint("quantity BETWEEN 1 AND 10000", name="quantity"),
    CheckConstraint("unit_price_minor IS NULL OR unit_price_minor >= 0", name="price"),
    Index(None, "order_id", "sku", unique=True),
    info=pii.held_for("what an order asks for, priced at reservation", retention="orders"),
)

outbox = outbox_table(metadata)
idempotency_keys = idempotency_table(metadata)
