"""Composition root of the gateway: the only module that reads settings and wires adapters.

Today the gateway serves its health endpoints; the public /v1 API arrives with the order slice.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from importlib.metadata import version

from fastapi import FastAPI

from shared.caching import check_redis, create_redis
from shared.db import check_postgres, create_engine
from shared.http import create_app
from shared.messaging import KafkaProbe
from shared.settings import ServiceSettings


class GatewaySettings(ServiceSettings):
    """Gateway settings; defaults match the local stack started by ``make up``."""

    service_name: str = "gateway"
    http_port: int = 8000


def build_app(settings: GatewaySettings) -> FastAPI:
    """Wire the gateway's dependencies into a FastAPI app (nothing connects until first use)."""
    engine = create_engine(settings.database, application_name=settings.service_name)
    redis = create_redis(settings.redis)
    kafka = KafkaProbe(settings.kafka)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await kafka.close()
            await redis.aclose()
            await engine.dispose()

    return create_app(
        title="Ordo gateway",
        version=version("ordo-gateway"),
        settings=settings,
        readiness={
            "postgres": partial(check_postgres, engine),
            "kafka": kafka,
            "redis": partial(check_redis, redis),
        },
        lifespan=lifespan,
        readiness_timeout_s=settings.readiness_timeout_s,
    )
