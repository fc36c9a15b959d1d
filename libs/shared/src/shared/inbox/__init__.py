"""Idempotent consumers: the inbox, retries with backoff, dead letters and their replay.

A service consumes a topic through :class:`IdempotentConsumer`: each event id is claimed in the
inbox table in the same transaction as the handler's writes, and the Kafka offset is committed
only after that transaction commits, so every event is applied exactly once however often it
is delivered. Transient failures go to the group's retry lane (``<topic>.retry.<group>``) and
are retried with exponential backoff and jitter, while the key's later messages wait behind
them; permanent failures, and transient ones that run out of attempts, go to ``<topic>.dlq``
with their error and coordinates in headers. Event types a consumer does not act on are mapped
to :func:`ignore_event` and acknowledged without a transaction. :func:`replay_dead_letters` (CLI:
``python -m shared.inbox.replay``) re-drives chosen dead letters once, with an audit entry.
See ``docs/adr/0002-idempotent-consumer.md``.
"""

from shared.inbox._consumer import IdempotentConsumer
from shared.inbox._event import (
    Handler,
    InboxEvent,
    InvalidEnvelopeError,
    UndecodablePayloadError,
    UnknownEventTypeError,
    ignore_event,
)
from shared.inbox._headers import DeadLetter, Origin, RetryState, parse_dead_letter
from shared.inbox._policy import Failure, RedeliveryPolicy, classify_failure
from shared.inbox._processor import MessageProcessor
from shared.inbox._replay import replay_dead_letters
from shared.inbox._replay_model import ReplayFilter, ReplayReport
from shared.inbox._routing import Outcome
from shared.inbox._schema import downgrade_inbox, inbox_metadata, upgrade_inbox
from shared.inbox._store import INBOX_RETENTION, PurgeResult, purge_inbox
from shared.inbox._topics import (
    dead_letter_topic,
    ensure_inbox_topics,
    retry_group,
    retry_topic,
)
from shared.inbox._tx import UnitOfWork

__all__ = [
    "INBOX_RETENTION",
    "DeadLetter",
    "Failure",
    "Handler",
    "IdempotentConsumer",
    "InboxEvent",
    "InvalidEnvelopeError",
    "MessageProcessor",
    "Origin",
    "Outcome",
    "PurgeResult",
    "RedeliveryPolicy",
    "ReplayFilter",
    "ReplayReport",
    "RetryState",
    "UndecodablePayloadError",
    "UnitOfWork",
    "UnknownEventTypeError",
    "classify_failure",
    "dead_letter_topic",
    "downgrade_inbox",
    "ensure_inbox_topics",
    "ignore_event",
    "inbox_metadata",
    "parse_dead_letter",
    "purge_inbox",
    "replay_dead_letters",
    "retry_group",
    "retry_topic",
    "upgrade_inbox",
]
