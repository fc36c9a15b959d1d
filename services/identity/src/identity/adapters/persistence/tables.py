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

from shared import pii
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
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("name", String(200), nullable=False, info=pii.none()),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    info=pii.held_for(
        "tenants: the organisations people sign up and work in", retention="identity-records"
    ),
)

users = Table(
    "users",
    metadata,
    Column(
        "id",
        Uuid,
        primary_key=True,
        info=pii.pseudonymous_id("the user id every other service holds"),
    ),
    Column(
        "email",
        String(320),
        nullable=False,
        unique=True,
        comment="PII; normalised",
        info=pii.personal("sign-in and contact address, normalised"),
    ),
    Column(
        "display_name",
        String(200),
        nullable=False,
        comment="PII",
        info=pii.personal("the name shown to org members"),
    ),
    Column(
        "password_hash",
        Text,
        nullable=False,
        comment="argon2id, encoded",
        info=pii.secret("argon2id hash of the password"),
    ),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    info=pii.held_for(
        "accounts: sign-in, and who a member is to their colleagues", retention="identity-records"
    ),
)

memberships = Table(
    "memberships",
    metadata,
    Column(
        "org_id", Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, info=pii.none()
    ),
    Column(
        "user_id",
        Uuid,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        info=pii.pseudonymous_id(),
    ),
    Column("role", String(16), nullable=False, info=pii.none()),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("updated_at", _TS, nullable=False, info=pii.none()),
    PrimaryKeyConstraint("org_id", "user_id"),
    CheckConstraint("role IN ('owner', 'admin', 'member', 'viewer')", name="role"),
    Index(None, "user_id"),
    info=pii.held_for("who may act in which org, with which role", retention="identity-records"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("id", Uuid, primary_key=True, info=pii.none()),
    Column("family_id", Uuid, nullable=False, info=pii.none()),
    Column(
        "user_id",
        Uuid,
        ForeignKey("users.id", ondelete="CASCADE"),
        nullable=False,
        info=pii.pseudonymous_id(),
    ),
    Column(
        "org_id", Uuid, ForeignKey("orgs.id", ondelete="CASCADE"), nullable=False, info=pii.none()
    ),
    Column(
        "token_hash",
        LargeBinary(32),
        nullable=False,
        unique=True,
        comment="SHA-256",
        info=pii.secret("SHA-256 of a refresh token: finds the token presented"),
    ),
    Column("issued_at", _TS, nullable=False, info=pii.none()),
    Column("expires_at", _TS, nullable=False, info=pii.none()),
    Column("replaced_by", Uuid, nullable=True, info=pii.none()),
    Column("revoked_at", _TS, nullable=True, info=pii.none()),
    Index(None, "family_id"),
    Index(None, "user_id"),
    Index(None, "expires_at"),
    info=pii.held_for(
        "sessions: rotating refresh tokens and their families", retention="refresh-tokens"
    ),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(64), primary_key=True, info=pii.none()),
    Column("algorithm", String(16), nullable=False, info=pii.none()),
    Column("public_jwk", JSONB, nullable=False, info=pii.none()),
    Column(
        "encrypted_private_key",
        LargeBinary,
        nullable=False,
        comment="AES-256-GCM with the key-encryption key",
        info=pii.secret("Ed25519 private key, wrapped by the key-encryption key"),
    ),
    Column("created_at", _TS, nullable=False, info=pii.none()),
    Column("retired_at", _TS, nullable=True, info=pii.none()),
    # At most one key signs at a time.
    Index(
        "signing_keys_one_active_idx",
        text("(retired_at IS NULL)"),
        unique=True,
        postgresql_where=text("retired_at IS NULL"),
    ),
    info=pii.held_for(
        "keys that sign access tokens; public halves served as JWKS", retention="signing-keys"
    ),
)

outbox = outbox_table(metadata)

# Idempotency-Key records of signUp and addMember, written in the same transaction as what
# they create (shared.db.idempotency; migration 0002).
idempotency_keys = idempotency_table(metadata)
