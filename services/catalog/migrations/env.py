"""Alembic environment of catalog: catalog's settings and metadata (see shared.db.migrations)."""

from catalog.adapters.persistence.tables import metadata
from catalog.bootstrap import CatalogSettings
from shared.db.migrations import run_migrations
from shared.inbox import inbox_metadata

# The inbox tables are the chassis' (shared.inbox), created by upgrade_inbox in the migrations.
run_migrations(CatalogSettings(), [metadata, inbox_metadata])
