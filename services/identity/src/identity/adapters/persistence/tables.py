"""Identity's tables (SQLAlchemy Core); the migrations and the drift test use this metadata."""

from __future__ import annotations

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from shared.db import service_metadata
from shared.db.idempotency import idempotency_table
from shared.outbox import outbox_table

__all__ = [
    "idempotency_keys",
    "memberships",
    "metadata",
    "orgs",
    "outbox",
    "refresh_tokens",
    "signing_keys",
    "users",
]

metadata = service_metadata()

_TS = DateTime(timezone=True)

orgs = Table(
    "orgs",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("created_at", _TS, nullable=False),
)

users = Table(
    "users",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("email", String(320), nullable=False, unique=True, comment="PII; normalised"),
    Column("display_name", String(200), nullable=False, comment="PII"),
    Column("password_hash", Text, nullable=False, comment="argon2id, encoded"),
    Column("created_at", _TS, nullable=False),
)

memberships = Table(
    "memberships",
    metadata,
    Column("org_id", Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("role", String(16), nullable=False),
    Column("created_at", _TS, nullable=False),
    Column("updated_at", _TS, nullable=False),
    PrimaryKeyConstraint("org_id", "user_id"),
    CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name="role"),
    Index(None, "user_id"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("family_id", Uuid, nullable=False),
    Column("user_id", Uuid, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("org_id", Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False),
    Column("token_hash", LargeBinary(32), nullable=False, unique=True, comment="SHA-256"),
    Column("issued_at", _TS, nullable=False),
    Column("expires_at", _TS, nullable=False),
    Column("replaced_by", Uuid, nullable=True),
    Column("revoked_at", _TS, nullable=True),
    Index(None, "family_id"),
    Index(None, "user_id"),
    Index(None, "expires_at"),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("public_jwk", JSONB, nullable=False),
    Column(
        "encrypted_private_key",
        LargeBinary,
        nullable=False,
        comment="AES-256-GCM with the key-encryption key",
    ),
    Column("created_at", _TS, nullable=False),
    Column("retired_at", _TS, nullable=True),
    # At most one key signs at a time.
    Index(
        "signing_keys_one_active_idx",
        text("(retired_at IS NULL)"),
        unique=True,
        postgresql_where=text("retired_at IS NULL"),
    ),
)

outbox = outbox_table(metadata)

# Idempotency-Key records of signUp and addMember, written in the same transaction as what
# they create (shared.db.idempotency; migration 0002).
idempotency_keys = idempotency_table(metadata)
