"""Transactional outbox: events written with the business data, published to Kafka by a relay.

Writing (inside the caller's transaction; usually through ``shared.db.SqlaUnitOfWork``)::

    outbox = Outbox(outbox_table(metadata), source="/ordo/orders")
    await outbox.add(session, OutboxMessage(topic="orders.events", key=str(order.id),
                                            type="ordo.orders.order_placed.v1", payload={...}))

Waking the relays after a commit (the unit of work rings it; one per process)::

    uow = SqlaUnitOfWork(sessions, outbox=outbox, mapper=to_message,
                         doorbell=PgNotifyDoorbell(settings.database))

Waking another process that waits for committed work (a worker over a queue table), the same
way on a channel of its own::

    bell = PgNotifyDoorbell(settings.database, channel="payments_due")   # rung after commit
    listener = PgListener(settings.database, "payments_due", wakeup.ring)  # beside its polling

Migrating (in the service's Alembic revision)::

    def upgrade() -> None:
        upgrade_outbox(op)

Relaying (a process of its own, ``entrypoints/relay.py``; ``shared.outbox.process`` wires the
relay with its health app, and is imported on its own because it needs ``shared.db``)::

    await run_relay(database=settings.database, kafka=settings.kafka, service="orders")

Guarantees: every committed row is published at least once (a crash between send and mark
publishes it again); the first copy of each row of a key lands in commit order, even with several
relay replicas; rows of a late-committing transaction are never skipped. Design and evidence:
docs/adr/0001-outbox-relay.md.
"""

from shared.outbox._config import RelayConfig
from shared.outbox._doorbell import Doorbell, PgNotifyDoorbell
from shared.outbox._lanes import fair_share, plan_lanes, preferred_lanes
from shared.outbox._listener import PgListener
from shared.outbox._message import (
    CE_DATACONTENTTYPE,
    CE_ID,
    CE_ORGID,
    CE_SOURCE,
    CE_SPECVERSION,
    CE_SUBJECT,
    CE_TIME,
    CE_TYPE,
    CONTENT_TYPE,
    OutboxMessage,
    build_headers,
    encode_payload,
    lane_for,
)
from shared.outbox._relay import OutboxRelay
from shared.outbox._run import relay_producer_factory, run_relay, tune_gc
from shared.outbox._schema import (
    DEFAULT_LANES,
    DEFAULT_TABLE,
    OutboxNames,
    downgrade_outbox,
    outbox_table,
    upgrade_outbox,
)
from shared.outbox._wakeup import RelayWakeup
from shared.outbox._writer import Outbox

__all__ = [
    "CE_DATACONTENTTYPE",
    "CE_ID",
    "CE_ORGID",
    "CE_SOURCE",
    "CE_SPECVERSION",
    "CE_SUBJECT",
    "CE_TIME",
    "CE_TYPE",
    "CONTENT_TYPE",
    "DEFAULT_LANES",
    "DEFAULT_TABLE",
    "Doorbell",
    "Outbox",
    "OutboxMessage",
    "OutboxNames",
    "OutboxRelay",
    "PgListener",
    "PgNotifyDoorbell",
    "RelayConfig",
    "RelayWakeup",
    "build_headers",
    "downgrade_outbox",
    "encode_payload",
    "fair_share",
    "lane_for",
    "outbox_table",
    "plan_lanes",
    "preferred_lanes",
    "relay_producer_factory",
    "run_relay",
    "tune_gc",
    "upgrade_outbox",
]
