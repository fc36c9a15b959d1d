"""Alembic environment of payments: payments' settings and metadata (see shared.db.migrations)."""

from payments.adapters.persistence.tables import metadata
from payments.bootstrap import PaymentsSettings
from shared.db.migrations import run_migrations
from shared.inbox import inbox_metadata

# The inbox tables are the chassis' (shared.inbox), created by upgrade_inbox in the migrations.
run_migrations(PaymentsSettings(), [metadata, inbox_metadata])
