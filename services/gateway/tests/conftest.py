"""Gateway test fixtures: settings that point the gateway at the test servers."""

from __future__ import annotations

import pytest

from gateway.bootstrap import GatewaySettings
from shared.settings import DatabaseSettings, KafkaSettings, RedisSettings
from shared.testing import Endpoints


@pytest.fixture
def gateway_settings(ordo_endpoints: Endpoints, ordo_database: DatabaseSettings) -> GatewaySettings:
    """Gateway settings wired to the real test PostgreSQL, Kafka and Redis."""
    host, port = ordo_endpoints.redis_host_port
    return GatewaySettings(
        environment="test",
        # Generous: on a loaded 2-core CI box a healthy first connection can take a second.
        readiness_timeout_s=10.0,
        database=ordo_database,
        kafka=KafkaSettings(bootstrap_servers=ordo_endpoints.kafka_bootstrap, client_id="gw-test"),
        redis=RedisSettings(host=host, port=port, password=ordo_endpoints.redis_password or ""),
    )
