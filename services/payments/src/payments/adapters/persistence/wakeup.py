"""Waking the payment worker across processes: a post-commit NOTIFY and a LISTEN connection.

The consumer (a new payment, a cancel) rings the chassis' ``PgNotifyDoorbell`` after its commit
(never inside the transaction: see shared.outbox's doorbell), on a channel of the worker's own;
the worker's ``PgListener`` turns each notification into a ring of its in-process
``RelayWakeup``. A lost notification (a dropped connection) costs only latency: the worker also
polls, and the listener rings after every reconnection in case it missed one.
"""

from __future__ import annotations

from shared.outbox import PgListener, PgNotifyDoorbell, RelayWakeup
from shared.settings import DatabaseSettings

__all__ = ["WORKER_CHANNEL", "worker_doorbell", "worker_listener"]

# The channel keeps the name it had when derived from a table name, so consumers and workers of
# different releases still hear each other during a rolling deploy.
WORKER_CHANNEL = "ordo_outbox_public_payments_due"


def worker_doorbell(database: DatabaseSettings, *, application_name: str) -> PgNotifyDoorbell:
    """The doorbell a unit of work rings after a commit that made a payment due now."""
    return PgNotifyDoorbell(database, channel=WORKER_CHANNEL, application_name=application_name)


def worker_listener(database: DatabaseSettings, wakeup: RelayWakeup) -> PgListener:
    """The worker's LISTEN on :data:`WORKER_CHANNEL`, ringing ``wakeup``.

    The idle connection is probed every 5 s (a half-open socket would swallow notifications);
    reconnections back off from 0.2 s to 5 s.
    """
    return PgListener(
        database,
        WORKER_CHANNEL,
        wakeup.ring,
        application_name="payments-worker-listen",
        probe_interval_s=5.0,
        timeout_s=5.0,
        backoff_initial_s=0.2,
        backoff_max_s=5.0,
    )
