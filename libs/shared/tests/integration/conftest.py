"""Fixtures shared by the chassis' consumer integration tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.inbox import ensure_inbox_topics
from shared.messaging import delete_topics
from shared.settings import KafkaSettings
from shared.testing import Endpoints


@pytest.fixture
def kafka(ordo_endpoints: Endpoints) -> KafkaSettings:
    """Kafka settings pointing at the test broker."""
    return KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, client_id="chassis-test")


@pytest.fixture
async def topic(new_topic, kafka: KafkaSettings, kafka_group: str) -> AsyncIterator[str]:
    """A 3-partition topic of this test, with the consumer group's retry and dead-letter twins."""
    name = await new_topic(partitions=3)
    twins = await ensure_inbox_topics(kafka.bootstrap_servers, name, kafka_group, partitions=3)
    yield name
    await delete_topics(kafka.bootstrap_servers, twins)
