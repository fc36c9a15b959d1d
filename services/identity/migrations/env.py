"""Alembic environment of identity: identity's settings and metadata (see shared.db.migrations)."""

from identity.adapters.persistence.tables import metadata
from identity.bootstrap import IdentitySettings
from shared.db.migrations import run_migrations

run_migrations(IdentitySettings(), metadata)
