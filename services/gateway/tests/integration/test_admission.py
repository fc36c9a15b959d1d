"""Admission control through the whole gateway, against real HTTP services: at a forced limit
of one call in flight, the next call is refused at once with 503 problem+json and Retry-After,
before the rate limits (no Redis round trip) and before the service (nothing stored), so its
Idempotency-Key works on the retry; a short queue lets a call wait for a slot instead."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from gateway.bootstrap import AdmissionSettings, GatewaySettings, RateLimitSettings
from shared.observability import Metrics

from .conftest import gateway
from .upstreams import FakeService, Issuer, Reply

pytestmark = pytest.mark.integration

ID = "0190a0e4-8d5b-7c1e-9a3f-1b2c3d4e5f60"
ORDER = {"currency": "EUR", "lines": [{"sku": "SKU-1", "quantity": 2}]}
ONE = {"initial_limit": 1, "min_limit": 1, "max_limit": 1}


def settings_with(base: GatewaySettings, redis_prefix: str, **admission: float) -> GatewaySettings:
    return base.model_copy(
        update={
            "admission": AdmissionSettings(**admission),  # type: ignore[arg-type]
            "rate_limits": RateLimitSettings(
                key_prefix=redis_prefix.rstrip(":"), per_user="10/minute"
            ),
        }
    )


async def until_seen(service: FakeService, count: int) -> None:
    async with asyncio.timeout(5):
        while len(service.seen) < count:  # noqa: ASYNC110 - the fake offers only a list
            await asyncio.sleep(0.005)


def sample(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


async def test_over_the_limit_the_gateway_sheds_at_once_and_stores_nothing(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    issuer: Issuer,
    redis_prefix: str,
) -> None:
    orders = upstreams["orders"]
    orders.reply(Reply(201, {"id": "first"}, delay_s=0.3), Reply(201, {"id": ID}))
    settings = settings_with(commerce_settings, redis_prefix, queue_size=0, **ONE)
    auth = {"Authorization": f"Bearer {issuer.token(user_id=uuid.uuid4())}"}
    metrics = Metrics()
    async with gateway(settings, metrics) as client:
        slow = asyncio.create_task(
            client.post("/v1/orders", json=ORDER, headers={**auth, "Idempotency-Key": "k-a"})
        )
        await until_seen(orders, 1)
        started = time.monotonic()
        shed = await client.post(
            "/v1/orders", json=ORDER, headers={**auth, "Idempotency-Key": "k-b"}
        )
        shed_s = time.monotonic() - started
        assert len(orders.seen) == 1, "the refused call never reached the service"
        assert sample(metrics, "gateway_inflight", upstream="orders") == 1
        first = await slow
        retried = await client.post(
            "/v1/orders", json=ORDER, headers={**auth, "Idempotency-Key": "k-b"}
        )

    assert shed.status_code == 503, shed.text
    assert shed.headers["content-type"] == "application/problem+json"
    assert shed.headers["retry-after"] == "1"
    body = shed.json()
    assert (body["status"], body["code"]) == (503, "gateway.overloaded")
    assert body["instance"] == "/v1/orders"
    assert "ratelimit" not in shed.headers  # refused before the rate limits: no Redis call
    assert shed_s < 0.2  # not after the slow call's 0.3 s
    assert first.status_code == 201
    assert first.headers["ratelimit"].startswith('"user";r=9;')
    assert retried.status_code == 201, retried.text
    assert retried.headers["ratelimit"].startswith('"user";r=8;')  # the shed call spent none
    assert [seen.headers["idempotency-key"] for seen in orders.seen] == ["k-a", "k-b"]
    assert sample(metrics, "gateway_shed_total", upstream="orders", reason="limit") == 1
    assert sample(metrics, "gateway_concurrency_limit", upstream="orders") == 1
    assert sample(metrics, "gateway_inflight", upstream="orders") == 0
    assert sample(metrics, "gateway_shed_total", upstream="catalog", reason="limit") == 0


async def test_a_short_queue_lets_a_call_wait_for_a_slot_but_not_for_long(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    issuer: Issuer,
    redis_prefix: str,
) -> None:
    catalog = upstreams["catalog"]
    auth = {"Authorization": f"Bearer {issuer.token(user_id=uuid.uuid4())}"}
    metrics = Metrics()

    catalog.reply(Reply(200, {"id": ID}, delay_s=0.1))
    waiting = settings_with(commerce_settings, redis_prefix, queue_size=1, max_wait_s=1.0, **ONE)
    async with gateway(waiting, metrics) as client:
        both = await asyncio.gather(
            client.get(f"/v1/products/{ID}", headers=auth),
            client.get(f"/v1/products/{ID}", headers=auth),
        )
    assert [r.status_code for r in both] == [200, 200]  # the second waited for the first

    catalog.reset()
    catalog.reply(Reply(200, {"id": ID}, delay_s=0.5))
    brief = settings_with(commerce_settings, redis_prefix, queue_size=1, max_wait_s=0.05, **ONE)
    metrics = Metrics()
    async with gateway(brief, metrics) as client:
        slow = asyncio.create_task(client.get(f"/v1/products/{ID}", headers=auth))
        await until_seen(catalog, 1)
        queued = asyncio.create_task(client.get(f"/v1/products/{ID}", headers=auth))
        await asyncio.sleep(0.01)
        full = await client.get(f"/v1/products/{ID}", headers=auth)  # the queue holds one
        timed_out = await queued
        await slow
    assert full.status_code == 503
    assert timed_out.status_code == 503
    assert timed_out.json()["code"] == "gateway.overloaded"
    assert len(catalog.seen) == 1
    assert sample(metrics, "gateway_shed_total", upstream="catalog", reason="limit") == 1
    assert sample(metrics, "gateway_shed_total", upstream="catalog", reason="queue_timeout") == 1


async def test_admission_control_can_be_switched_off(
    commerce_settings: GatewaySettings,
    upstreams: dict[str, FakeService],
    issuer: Issuer,
    redis_prefix: str,
) -> None:
    upstreams["catalog"].reply(Reply(200, {"id": ID}, delay_s=0.1))
    settings = settings_with(commerce_settings, redis_prefix, enabled=False, **ONE)
    auth = {"Authorization": f"Bearer {issuer.token(user_id=uuid.uuid4())}"}
    metrics = Metrics()
    async with gateway(settings, metrics) as client:
        answers = await asyncio.gather(
            *(client.get(f"/v1/products/{ID}", headers=auth) for _ in range(3))
        )
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert sample(metrics, "gateway_concurrency_limit", upstream="catalog") is None
