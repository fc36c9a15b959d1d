"""Redis client factory and readiness probe."""

from __future__ import annotations

from redis.asyncio import Redis

from shared.settings import RedisSettings


def create_redis(settings: RedisSettings, *, max_connections: int = 50) -> Redis:
    """Build an asyncio Redis client with socket timeouts on connect and on every command."""
    return Redis(
        host=settings.host,
        port=settings.port,
        db=settings.db,
        password=settings.password.get_secret_value() or None,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.socket_timeout_s,
        max_connections=max_connections,
        health_check_interval=30,
        decode_responses=False,
    )


async def check_redis(client: Redis) -> None:
    """Readiness probe: PING must answer PONG."""
    if not await client.ping():
        raise ConnectionError("Redis did not answer PING")
