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

from shared import pii
from shared.db import service_metadata
from shared.db.idempotency import idempotency_table
from shared.jobs.sqla import jobs_table
from shared.outbox import outbox_table

__all__ = [
    "idempotency_keys",
    "jobs",
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
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column("sku", String(64), nullable=False, info=pii.none()),
    Column("name", String(200), nullable=False, info=pii.none()),
    Column("description", String(2000), nullable=True, info=pii.none()),
    Column("price_minor", BigInteger, nullable=False, info=pii.none()),
    Column("currency", String(3), nullable=False, info=pii.none()),
    Column("version", Integer, nullable=False, info=pii.none()),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    UniqueConstraint("org_id", "sku"),
    CheckConstraint("price_minor >= 0", name="price"),
    info=pii.held_for("what a tenant sells, at which price", retention="catalog"),
)

stock_items = Table(
    "stock_items",
    metadata,
    Column(
        "product_id",
        Uuid,
        ForeignKey("products.id", ondelete="CASCADE"),
        primary_key=True,
        info=pii.none(),
    ),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column("sku", String(64), nullable=False, info=pii.none()),
    Column("on_hand", BigInteger, nullable=False, info=pii.none()),
    Column("reserved", BigInteger, nullable=False, info=pii.none()),
    UniqueConstraint("org_id", "sku"),
    CheckConstraint("reserved >= 0 AND reserved <= on_hand", name="levels"),
    info=pii.held_for("stock levels per product", retention="catalog"),
)

reservations = Table(
    "reservations",
    metadata,
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("org_id", Uuid, nullable=False, info=pii.none()),
    Column("order_id", Uuid, nullable=False, info=pii.none()),
    Column("status", String(16), nullable=False, info=pii.none()),
    Column("lines", JSONB, nullable=False, comment="priced lines, as reserved", info=pii.none()),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    UniqueConstraint("org_id", "order_id"),
    CheckConstraint("status IN ('held', 'committed', 'released')", name="status"),
    info=pii.held_for("stock held, committed or released for an order", retention="orders"),
)

rejections = Table(
    "rejections",
    metadata,
    Column("org_id", Uuid, primary_key=True, info=pii.none()),
    Column("order_id", Uuid, primary_key=True, info=pii.none()),
    Column("reason", String(32), nullable=False, info=pii.none()),
    Column("rejected_lines", JSONB, nullable=False, info=pii.none()),
    Column("rejected_at", _TS, nullable=False, info=pii.none()),
    comment="orders refused at order.placed: a repeated order.placed answers the same again",
    info=pii.held_for(
        "orders refused for lack of stock, to answer a repeat the same", retention="orders"
    ),
)

outbox = outbox_table(metadata)

# Idempotency-Key records of the creating POSTs, written in the same transaction as what they
# create (shared.db.idempotency; migration 0002).
idempotency_keys = idempotency_table(metadata)

# Bulk stock imports run as jobs (shared.jobs.sqla; migration 0003).
jobs = jobs_table(metadata)
