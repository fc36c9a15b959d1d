"""Alembic environment of orders: orders' settings and metadata (see shared.db.migrations)."""

from orders.adapters.persistence.tables import metadata
from orders.bootstrap import OrdersSettings
from shared.db.migrations import run_migrations
from shared.inbox import inbox_metadata

# The inbox tables are the chassis' (shared.inbox), created by upgrade_inbox in the migrations;
# the outbox and idempotency tables are declared on orders' metadata.
run_migrations(OrdersSettings(), [metadata, inbox_metadata])
