"""Kafka plumbing shared by producers, consumers and the relay.

The outbox relay and the idempotent consumer build on these; services never configure aiokafka
by hand.
"""

from shared.messaging._kafka import (
    KafkaProbe,
    create_producer,
    create_topics,
    delete_topics,
    producer_config,
)

__all__ = ["KafkaProbe", "create_producer", "create_topics", "delete_topics", "producer_config"]
