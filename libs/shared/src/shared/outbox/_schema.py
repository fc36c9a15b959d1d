"""The outbox table: its SQLAlchemy definition and the Alembic helpers that create and drop it.

One definition (:func:`_columns` and :func:`_indexes`) feeds both the ``Table`` a service adds
to its metadata and the migration, so the drift test of a service compares like with like.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    Uuid,
    func,
    text,
)

from shared import pii

if TYPE_CHECKING:
    from alembic.operations import Operations

DEFAULT_TABLE = "outbox"
DEFAULT_LANES = 64
# Kafka's own limit on topic names.
_MAX_TOPIC_LENGTH = 249
# An outbox table churns (insert, mark, delete): vacuum it by dead-row count, not by a fraction
# of a table whose size estimate goes stale, or dead index entries pile up under the relay.
_AUTOVACUUM = "autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000"


@dataclass(frozen=True, slots=True)
class OutboxNames:
    """Identifiers derived from one outbox table: SQL names, NOTIFY channel, lock namespaces."""

    table: str
    schema: str | None = None

    @property
    def qualified(self) -> str:
        """The quoted, schema-qualified table name for raw SQL."""
        name = _quote(self.table)
        return f"{_quote(self.schema)}.{name}" if self.schema else name

    @property
    def pending_index(self) -> str:
        """Name of the partial index of unpublished rows the relay reads through."""
        return f"{self.table}_pending_idx"

    @property
    def channel(self) -> str:
        """The LISTEN/NOTIFY channel the writer rings after inserting rows."""
        return _identifier(f"ordo_outbox_{self.schema or 'public'}_{self.table}")

    def lock_namespace(self, purpose: str) -> int:
        """A stable positive int32 for two-key advisory locks (``purpose``: lanes, members...)."""
        return zlib.crc32(f"ordo.outbox.{purpose}:{self.schema}.{self.table}".encode()) & 0x7FFFFFFF


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _identifier(name: str) -> str:
    # PostgreSQL truncates identifiers to 63 bytes; keep the channel unique by hashing the rest.
    if len(name.encode()) <= 63:
        return name
    return f"{name[:50]}_{zlib.crc32(name.encode()):08x}"


def _columns() -> list[Column[Any]]:
    return [
        Column(
            "id",
            Uuid(as_uuid=True),
            primary_key=True,
            comment="event id (UUID v7), ce_id",
            info=pii.none(),
        ),
        Column(
            "seq",
            BigInteger,
            Identity(always=True),
            nullable=False,
            comment="insertion order; the relay publishes a lane strictly in this order",
            info=pii.none(),
        ),
        Column(
            "lane",
            SmallInteger,
            nullable=False,
            comment="hash of key; unit of ownership",
            info=pii.none(),
        ),
        Column("topic", String(_MAX_TOPIC_LENGTH), nullable=False, info=pii.none()),
        Column(
            "key",
            Text,
            nullable=False,
            comment="Kafka key: the aggregate id",
            info=pii.pseudonymous_id("the aggregate id: a user id for identity's events"),
        ),
        Column(
            "payload",
            JSON,
            nullable=False,
            comment="the event body, kept byte for byte",
            info=pii.pseudonymous_id(
                "event bodies carry ids, never emails or names (contracts/asyncapi)"
            ),
        ),
        Column(
            "headers",
            JSON,
            nullable=False,
            comment="CloudEvents ce_* and W3C trace context",
            info=pii.pseudonymous_id("ce_subject may be a user id; trace context"),
        ),
        Column(
            "created_at",
            DateTime(timezone=True),
            nullable=False,
            server_default=func.now(),
            info=pii.none(),
        ),
        Column("published_at", DateTime(timezone=True), nullable=True, info=pii.none()),
        Column("attempts", Integer, nullable=False, server_default=text("0"), info=pii.none()),
        Column("last_error", Text, nullable=True, info=pii.none()),
    ]


def _constraints(names: OutboxNames) -> list[CheckConstraint]:
    return [CheckConstraint("lane >= 0", name=f"{names.table}_lane_ck")]


def _pending_index(names: OutboxNames, table: Table) -> Index:
    # Only unpublished rows are indexed, in commit-ish order: the relay's read stays small
    # however many published rows wait for the retention cleanup.
    return Index(
        names.pending_index,
        table.c.seq,
        postgresql_where=table.c.published_at.is_(None),
    )


def outbox_table(
    metadata: MetaData, name: str = DEFAULT_TABLE, *, schema: str | None = None
) -> Table:
    """Define the outbox table in a service's ``metadata`` (so Alembic and drift tests see it).

    Columns: ``id`` (event id, UUID v7, primary key), ``seq`` (identity; publication order within
    a lane), ``lane``, ``topic``, ``key`` (aggregate id), ``payload`` (JSON, verbatim),
    ``headers`` (JSON), ``created_at``, ``published_at`` (NULL until published), ``attempts``,
    ``last_error``; plus a partial index on ``seq`` of the unpublished rows.
    """
    names = OutboxNames(name, schema)
    table = Table(
        name,
        metadata,
        *_columns(),
        *_constraints(names),
        schema=schema,
        info=pii.held_for("events until published, then briefly for audit", retention="outbox"),
    )
    _pending_index(names, table)
    return table


def upgrade_outbox(op: Operations, name: str = DEFAULT_TABLE, *, schema: str | None = None) -> None:
    """Create the outbox table, its index and its vacuum settings; call from a service revision."""
    names = OutboxNames(name, schema)
    table = op.create_table(name, *_columns(), *_constraints(names), schema=schema)
    op.create_index(
        names.pending_index,
        name,
        [table.c.seq],
        schema=schema,
        postgresql_where=table.c.published_at.is_(None),
    )
    op.execute(f"ALTER TABLE {names.qualified} SET ({_AUTOVACUUM})")


def downgrade_outbox(
    op: Operations, name: str = DEFAULT_TABLE, *, schema: str | None = None
) -> None:
    """Drop the outbox table (and with it every unpublished row: only for a full rollback)."""
    op.drop_table(name, schema=schema)
