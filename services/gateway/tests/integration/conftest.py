"""Fixtures of the commerce tests: five real HTTP services per worker, a token issuer, the
gateway pointed at them with short timeouts, and tracing to an in-memory exporter."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from asgi_lifespan import LifespanManager
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.bootstrap import (
    UPSTREAM_PORTS,
    GatewaySettings,
    RateLimitSettings,
    UpstreamSettings,
    UpstreamsSettings,
    build_app,
)
from shared.observability import Metrics, configure_tracing

from .upstreams import FakeService, Issuer

FAST = {
    "timeout_s": 0.5,
    "connect_timeout_s": 0.5,
    "breaker_fail_max": 3,
    "breaker_reset_s": 30.0,
    "retry_attempts": 3,
    "retry_initial_delay_s": 0.0,
    "retry_max_delay_s": 0.01,
    "retry_after_s": 2,
}


@pytest.fixture(scope="session")
def issuer() -> Issuer:
    return Issuer()


@pytest.fixture(scope="session")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    configure_tracing("gateway-test", "0", None, exporter=exporter)
    return exporter


@pytest.fixture(scope="session")
async def services(issuer: Issuer) -> AsyncIterator[dict[str, FakeService]]:
    started = {
        name: FakeService(name, issuer if name == "identity" else None) for name in UPSTREAM_PORTS
    }
    for service in started.values():
        await service.start()
    yield started
    for service in started.values():
        await service.stop()


@pytest.fixture
def upstreams(services: dict[str, FakeService]) -> dict[str, FakeService]:
    for service in services.values():
        service.reset()
    return services


def upstream_settings(upstreams: dict[str, FakeService], **urls: str) -> UpstreamsSettings:
    return UpstreamsSettings(
        **{
            name: UpstreamSettings(url=urls.get(name, service.url), **FAST)  # type: ignore[arg-type]
            for name, service in upstreams.items()
        }
    )


@pytest.fixture
def commerce_settings(
    gateway_settings: GatewaySettings, redis_prefix: str, upstreams: dict[str, FakeService]
) -> GatewaySettings:
    return gateway_settings.model_copy(
        update={
            "upstreams": upstream_settings(upstreams),
            "rate_limits": RateLimitSettings(key_prefix=redis_prefix.rstrip(":")),
        }
    )


@asynccontextmanager
async def gateway(
    settings: GatewaySettings, metrics: Metrics | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(settings, metrics=metrics or Metrics())
    async with LifespanManager(app) as manager:
        peer = (f"10.1.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}", 5000)
        transport = httpx.ASGITransport(app=manager.app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="https://gateway") as client:
            yield client
