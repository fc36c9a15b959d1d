"""What a restored database must satisfy: migrations at head and the system's invariants.

Each check is one SQL query counting the rows that break it (0: holds), run per service
database. The drill (infra/backup/drill.py) runs them against the scratch cluster.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic.config import Config
from alembic.script import ScriptDirectory

REPO = Path(__file__).resolve().parents[2]

# The event each order status follows from, by the last event its outbox holds for it (rows
# are purged a day after publication: older orders are checked by their columns alone).
_STATUS_OF_LAST_EVENT = """
    ('ordo.orders.order.placed.v1', 'pending'),
    ('ordo.orders.order.payment_requested.v1', 'awaiting_payment'),
    ('ordo.orders.order.confirmed.v1', 'confirmed'),
    ('ordo.orders.order.rejected.v1', 'rejected'),
    ('ordo.orders.order.cancel_requested.v1', 'cancelling'),
    ('ordo.orders.order.cancelled.v1', 'cancelled')
"""


@dataclass(frozen=True, slots=True)
class Check:
    """One invariant: ``sql`` returns the number of rows that break it."""

    database: str
    name: str
    sql: str


CHECKS: tuple[Check, ...] = (
    Check(
        "ordo_catalog",
        "stock levels: on_hand = available + reserved, none negative",
        "SELECT count(*) FROM stock_items WHERE reserved < 0 OR reserved > on_hand",
    ),
    Check(
        "ordo_catalog",
        "stock conserved: reserved = the held reservations' quantities, per product",
        """
        WITH held AS (
            SELECT (line->>'product_id')::uuid AS product_id,
                   sum((line->>'quantity')::bigint) AS quantity
            FROM reservations, jsonb_array_elements(lines) AS line
            WHERE status = 'held'
            GROUP BY 1
        )
        SELECT count(*) FROM stock_items s LEFT JOIN held h USING (product_id)
        WHERE s.reserved <> coalesce(h.quantity, 0)
        """,
    ),
    Check(
        "ordo_orders",
        "each order's status follows from its last event in the outbox",
        f"""
        WITH expected(ce_type, status) AS (VALUES {_STATUS_OF_LAST_EVENT}),
        last AS (
            SELECT DISTINCT ON (key) key, headers->>'ce_type' AS ce_type
            FROM outbox ORDER BY key, seq DESC
        )
        SELECT count(*) FROM orders o
        JOIN last l ON l.key = o.id::text
        LEFT JOIN expected e ON e.ce_type = l.ce_type
        WHERE e.status IS DISTINCT FROM o.status
        """,  # noqa: S608 - constant SQL, no input
    ),
    Check(
        "ordo_orders",
        "saga state: a finished order has no deadline and its finishing time",
        """
        SELECT count(*) FROM orders
        WHERE (status IN ('confirmed', 'rejected', 'cancelled') AND deadline_at IS NOT NULL)
           OR (status = 'confirmed' AND confirmed_at IS NULL)
           OR (status IN ('rejected', 'cancelled') AND closed_at IS NULL)
        """,
    ),
    Check(
        "ordo_payments",
        "one authorisation per order",
        """
        SELECT count(*) FROM (
            SELECT p.order_id FROM payments p
            JOIN payment_attempts a ON a.payment_id = p.id AND a.outcome = 'authorized'
            GROUP BY p.order_id HAVING count(*) > 1
        ) AS twice
        """,
    ),
    Check(
        "ordo_payments",
        "an authorised or voided payment has the provider's reference",
        """
        SELECT count(*) FROM payments
        WHERE status IN ('authorized', 'voiding', 'voided') AND provider_reference IS NULL
        """,
    ),
)


def migration_heads() -> dict[str, set[str]]:
    """Each service database's Alembic head revisions, from services/<svc>/migrations."""
    heads: dict[str, set[str]] = {}
    for ini in sorted(REPO.glob("services/*/alembic.ini")):
        config = Config(str(ini))
        heads[f"ordo_{ini.parent.name}"] = set(ScriptDirectory.from_config(config).get_heads())
    return heads
