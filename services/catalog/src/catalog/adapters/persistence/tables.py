"""Catalog's tables (SQLAlchemy Core); the migrations and the drift test use this metadata.

The stock table's CHECK constraints are the last line of invariant 2 (never negative, never
more reserved than on hand) should a bug slip past the domain.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import service_metadata
from shared.db.idempotency import idempotency_table
from shared.outbox import outbox_table

__all__ = [
    "idempotency_keys",
    "metadata",
    "outbox",
    "products",
    "rejections",
    "reservations",
    "stock_items",
]

metadata = service_metadata()

_TS = DateTime(timezone=True)

products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("description", String(2000), nullable=True),
    Column("price_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    UniqueConstraint("org_id", "sku"),
    CheckConstraint("price_minor >= 0", name="price"),
)

stock_items = Table(
    "stock_items",
    metadata,
    Column(
        "product_id",
        Uuid,
        ForeignKey("products.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("org_id", Uuid, nullable=False),
    Column("sku", String(64), nullable=False),
    Column("on_hand", BigInteger, nullable=False),
    Column("reserved", BigInteger, nullable=False),
    UniqueConstraint("org_id", "sku"),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="levels"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("org_id", Uuid, nullable=False),
    Column("order_id", Uuid, nullable=False),
    Column("status", String(16), nullable=False),
    Column("lines", JSONB, nullable=False, comment="priced lines, as reserved"),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    UniqueConstraint("org_id", "order_id"),
    CheckConstraint("status IN ('held', 'committed', 'released')", name="status"),
)

rejections = Table(
    "rejections",
    metadata,
    Column("org_id", Uuid, primary_key=True),
    Column("order_id", Uuid, primary_key=True),
    Column("reason", String(32), nullable=False),
    Column("rejected_lines", JSONB, nullable=False),
    Column("rejected_at", _TS, nullable=False),
    comment="orders refused at order.placed: a repeated order.placed answers the same again",
)

outbox = outbox_table(metadata)

# Idempotency-Key records of the creating POSTs, written in the same transaction as what they
# create (shared.db.idempotency; migration 0002).
idempotency_keys = idempotency_table(metadata)
