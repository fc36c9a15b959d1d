"""The inbox's tables, as SQLAlchemy metadata and as Alembic operations a service's revision runs.

A service's migration includes them with::

    from shared.inbox import downgrade_inbox, upgrade_inbox

    def upgrade() -> None:
        upgrade_inbox(op)

    def downgrade() -> None:
        downgrade_inbox(op)

and its drift test compares ``inbox_metadata`` alongside its own metadata.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    Uuid,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql.schema import SchemaItem

from shared import pii

INBOX_MESSAGES = "inbox_messages"
INBOX_PARKED_KEYS = "inbox_parked_keys"
INBOX_REPLAYED = "inbox_replayed_dead_letters"
INBOX_REPLAY_AUDIT = "inbox_replay_audit"


def _ts(name: str, *, nullable: bool = False) -> Column[Any]:
    return Column(name, DateTime(timezone=True), nullable=nullable, info=pii.none())


def _messages() -> list[SchemaItem]:
    # One row per (group, event) applied. The group is in the key because one database can
    # host several consumer groups of the same topic, each of which must apply the event.
    return [
        Column("consumer_group", Text, nullable=False, info=pii.none()),
        Column("event_id", Text, nullable=False, info=pii.none()),
        Column("event_type", Text, nullable=False, info=pii.none()),
        Column("topic", Text, nullable=False, info=pii.none()),
        Column("kafka_partition", Integer, nullable=False, info=pii.none()),
        Column("kafka_offset", BigInteger, nullable=False, info=pii.none()),
        _ts("processed_at"),
        PrimaryKeyConstraint("consumer_group", "event_id", name="pk_inbox_messages"),
    ]


def _parked_keys() -> list[SchemaItem]:
    # A key with a message in the retry lane: later messages of that key follow it there, so
    # they are applied in order. ``last_event_id`` is the newest one sent; the lane releases
    # the key when it finishes that one.
    return [
        Column("consumer_group", Text, nullable=False, info=pii.none()),
        Column("topic", Text, nullable=False, info=pii.none()),
        Column(
            "message_key",
            LargeBinary,
            nullable=False,
            info=pii.pseudonymous_id("a Kafka key: a user id for identity's events"),
        ),
        Column("last_event_id", Text, nullable=False, info=pii.none()),
        _ts("parked_at"),
        PrimaryKeyConstraint("consumer_group", "topic", "message_key", name="pk_inbox_parked_keys"),
    ]


def _replayed() -> list[SchemaItem]:
    # One row per dead-letter record a replay re-published: a second replay skips it.
    return [
        Column("dlq_topic", Text, nullable=False, info=pii.none()),
        Column("dlq_partition", Integer, nullable=False, info=pii.none()),
        Column("dlq_offset", BigInteger, nullable=False, info=pii.none()),
        Column("replay_id", Uuid, nullable=False, info=pii.none()),
        Column("event_id", Text, nullable=True, info=pii.none()),
        Column("target_topic", Text, nullable=False, info=pii.none()),
        _ts("replayed_at"),
        PrimaryKeyConstraint(
            "dlq_topic", "dlq_partition", "dlq_offset", name="pk_inbox_replayed_dead_letters"
        ),
    ]


def _replay_audit() -> list[SchemaItem]:
    return [
        Column("id", Uuid, primary_key=True, info=pii.none()),
        Column("actor", Text, nullable=False, info=pii.personal("the operator who ran the replay")),
        Column("reason", Text, nullable=False, info=pii.none("the operator's stated reason")),
        Column("dlq_topic", Text, nullable=False, info=pii.none()),
        Column("target", Text, nullable=False, info=pii.none()),
        Column(
            "filters",
            JSONB,
            nullable=False,
            info=pii.pseudonymous_id("may select by key or subject"),
        ),
        Column("dry_run", Boolean, nullable=False, info=pii.none()),
        Column("status", Text, nullable=False, info=pii.none()),
        Column("scanned", Integer, nullable=False, server_default=text("0"), info=pii.none()),
        Column("matched", Integer, nullable=False, server_default=text("0"), info=pii.none()),
        Column("replayed", Integer, nullable=False, server_default=text("0"), info=pii.none()),
        Column(
            "already_replayed", Integer, nullable=False, server_default=text("0"), info=pii.none()
        ),
        Column("too_old", Integer, nullable=False, server_default=text("0"), info=pii.none()),
        Column("error", Text, nullable=True, info=pii.none()),
        _ts("started_at"),
        _ts("finished_at", nullable=True),
    ]


_TABLES: dict[str, Callable[[], list[SchemaItem]]] = {
    INBOX_MESSAGES: _messages,
    INBOX_PARKED_KEYS: _parked_keys,
    INBOX_REPLAYED: _replayed,
    INBOX_REPLAY_AUDIT: _replay_audit,
}

# BRIN, not B-tree, on the insert-time columns: rows arrive in time order, so a BRIN index
# costs almost nothing per insert (the inbox sits on every consumed message's hot path) and
# still lets the purge find old rows by range.
_INDEXES: list[tuple[str, str, list[str], str]] = [
    ("ix_inbox_messages_processed_at", INBOX_MESSAGES, ["processed_at"], "brin"),
    ("ix_inbox_parked_keys_parked_at", INBOX_PARKED_KEYS, ["parked_at"], "btree"),
    ("ix_inbox_replayed_replayed_at", INBOX_REPLAYED, ["replayed_at"], "brin"),
    ("ix_inbox_replay_audit_started_at", INBOX_REPLAY_AUDIT, ["started_at"], "btree"),
]


# Why each table holds its rows (docs/pii.md); all of them follow the inbox's retention.
_PURPOSES: dict[str, str] = {
    INBOX_MESSAGES: "events applied per consumer group: deduplication",
    INBOX_PARKED_KEYS: "keys whose messages wait in a retry lane, to keep their order",
    INBOX_REPLAYED: "dead letters already re-published, so a replay runs once",
    INBOX_REPLAY_AUDIT: "who replayed which dead letters, when and why",
}


def _build_metadata() -> MetaData:
    metadata = MetaData()
    for name, columns in _TABLES.items():
        Table(name, metadata, *columns(), info=pii.held_for(_PURPOSES[name], retention="inbox"))
    for index_name, table_name, cols, method in _INDEXES:
        table = metadata.tables[table_name]
        Index(index_name, *(table.c[c] for c in cols), postgresql_using=method)
    return metadata


inbox_metadata = _build_metadata()
"""The inbox tables; include it in a service's drift test next to its own metadata."""

inbox_messages: Table = inbox_metadata.tables[INBOX_MESSAGES]
parked_keys: Table = inbox_metadata.tables[INBOX_PARKED_KEYS]
replayed_dead_letters: Table = inbox_metadata.tables[INBOX_REPLAYED]
replay_audit: Table = inbox_metadata.tables[INBOX_REPLAY_AUDIT]


def upgrade_inbox(op: Any) -> None:
    """Create the inbox tables and indexes; call from a service's Alembic ``upgrade()``.

    Args:
        op: ``alembic.op`` (or an ``alembic.operations.Operations`` bound to a connection).
    """
    for name, columns in _TABLES.items():
        op.create_table(name, *columns())
    for index_name, table_name, cols, method in _INDEXES:
        op.create_index(index_name, table_name, cols, postgresql_using=method)


def downgrade_inbox(op: Any) -> None:
    """Drop what :func:`upgrade_inbox` created; call from the same revision's ``downgrade()``."""
    for index_name, table_name, _cols, _method in reversed(_INDEXES):
        op.drop_index(index_name, table_name=table_name)
    for name in reversed(_TABLES):
        op.drop_table(name)
