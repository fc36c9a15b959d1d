"""Alembic environment of notifications: its settings and metadata (see shared.db.migrations)."""

from notifications.adapters.persistence.tables import metadata
from notifications.bootstrap import NotificationsSettings
from shared.db.migrations import run_migrations
from shared.inbox import inbox_metadata

# The inbox tables are the chassis' (shared.inbox), created by upgrade_inbox in the migrations.
run_migrations(NotificationsSettings(), [metadata, inbox_metadata])
