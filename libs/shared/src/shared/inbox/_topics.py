"""Names of the topics an idempotent consumer uses beside its source topic, and their creation."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from shared.messaging import create_topics

DEAD_LETTER_SUFFIX = ".dlq"
RETRY_INFIX = ".retry."
RETRY_GROUP_SUFFIX = ".retry"


def dead_letter_topic(topic: str) -> str:
    """Return ``<topic>.dlq``: one dead-letter topic per source topic, shared by every group.

    The consumer group that gave up is named in each record's headers, so operators read one
    place per source topic and the replay can still target a single group.
    """
    return f"{topic}{DEAD_LETTER_SUFFIX}"


def retry_topic(topic: str, group: str) -> str:
    """Return ``<topic>.retry.<group>``: the retry lane only this consumer group reads.

    Per group, because a retry concerns one consumer: other groups of the same source topic
    already applied the message and must not see it again.
    """
    return f"{topic}{RETRY_INFIX}{group}"


def retry_group(group: str) -> str:
    """Return the consumer group id of the retry lane (``<group>.retry``).

    A separate group id keeps the lane's joins and rebalances from pausing the main consumers.
    """
    return f"{group}{RETRY_GROUP_SUFFIX}"


async def ensure_inbox_topics(
    bootstrap_servers: str,
    topic: str,
    group: str,
    *,
    partitions: int,
    replication_factor: int = 1,
    dead_letter_retention_ms: int = 28 * 24 * 3600 * 1000,
) -> list[str]:
    """Create the retry lane and the dead-letter topic of ``(topic, group)`` if missing.

    Give the retry lane the source topic's partition count: a key then lands on the same
    partition index in both, which keeps the lane's per-key order easy to reason about.

    Returns:
        The two topic names, retry lane first.
    """
    lane, dlq = retry_topic(topic, group), dead_letter_topic(topic)
    await create_topics(
        bootstrap_servers, [lane], partitions=partitions, replication_factor=replication_factor
    )
    await create_topics(
        bootstrap_servers,
        [dlq],
        partitions=partitions,
        replication_factor=replication_factor,
        configs={"retention.ms": str(dead_letter_retention_ms)},
    )
    return [lane, dlq]


async def topic_partitions(bootstrap_servers: str, topic: str) -> list[int]:
    """Return the partition ids of ``topic`` (empty when it does not exist).

    Asks the cluster directly: a plain consumer only knows the partitions of topics it
    subscribed to, and a replay or a test reads topics by assignment.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=15_000)
    await admin.start()
    try:
        described = await admin.describe_topics([topic])
    finally:
        await admin.close()
    return sorted(
        int(p["partition"])
        for entry in described
        if entry.get("topic") == topic and entry.get("error_code") == 0
        for p in entry.get("partitions", [])
    )
