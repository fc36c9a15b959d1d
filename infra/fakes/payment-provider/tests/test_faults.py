"""Injected trouble: errors before and after commit, outages, latency, seeded determinism."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from payment_provider import ProviderConfig

Body = Callable[..., dict[str, Any]]
ClientFactory = Callable[..., Any]


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def count_for(client: httpx.AsyncClient, reference: str) -> int:
    listed = await client.get("/v1/authorizations", params={"reference": reference})
    return int(listed.json()["count"])


async def authorize_until_ok(
    client: httpx.AsyncClient, body: dict[str, Any], idempotency_key: str, deadline_s: float = 10
) -> tuple[list[int], httpx.Response]:
    """Retry with the same key, polling with a deadline, until a 2xx; the statuses seen."""
    seen: list[int] = []
    deadline = time.monotonic() + deadline_s
    while True:
        response = await client.post("/v1/authorizations", json=body, headers=key(idempotency_key))
        seen.append(response.status_code)
        if response.is_success:
            return seen, response
        assert time.monotonic() < deadline, f"no success before the deadline: {seen}"
        await asyncio.sleep(0.05)


async def test_error_after_commit_then_retry_returns_the_original(
    client: httpx.AsyncClient, payment: Body
) -> None:
    await client.put("/admin/behaviour", json={"error_after_commit_rate": 1})
    lost = await client.post("/v1/authorizations", json=payment(), headers=key("lost"))
    assert lost.status_code == 500
    assert lost.headers["content-type"].startswith("application/problem+json")
    recorded = (await client.get("/v1/authorizations", params={"reference": "pay_1"})).json()
    assert recorded["count"] == 1  # the authorization exists although the answer was a 500

    await client.put("/admin/behaviour", json={"error_after_commit_rate": 0})
    retry = await client.post("/v1/authorizations", json=payment(), headers=key("lost"))
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == recorded["items"][0]["id"]
    assert await count_for(client, "pay_1") == 1
    stats = (await client.get("/admin/stats")).json()
    assert stats["outcomes"]["error_after_commit"] == 1
    assert stats["authorizations"] == 1


async def test_errors_before_commit_record_nothing(
    client_for: ClientFactory, payment: Body
) -> None:
    async with client_for(ProviderConfig(error_rate=1.0)) as client:
        response = await client.post("/v1/authorizations", json=payment(), headers=key("e"))
        assert response.status_code == 503
        assert response.json()["type"].endswith("/unavailable")
        await client.put("/admin/behaviour", json={})
        assert await count_for(client, "pay_1") == 0


async def test_retries_under_both_error_kinds_converge_on_one_authorization(
    client_for: ClientFactory, payment: Body
) -> None:
    config = ProviderConfig(error_rate=0.3, error_after_commit_rate=0.3, seed=11)
    async with client_for(config) as client:
        for order in range(10):
            seen, final = await authorize_until_ok(
                client, payment(reference=f"o{order}"), f"k{order}"
            )
            assert final.json()["reference"] == f"o{order}", seen
        await client.put("/admin/behaviour", json={})
        for order in range(10):
            assert await count_for(client, f"o{order}") == 1


async def test_outage_answers_503_then_recovers(client: httpx.AsyncClient, payment: Body) -> None:
    created = await client.post("/admin/outages", json={"start_in_s": 0, "duration_s": 0.5})
    assert created.status_code == 201
    assert created.json()["active"] is True
    assert created.json()["mode"] == "503"
    during = await client.post("/v1/authorizations", json=payment(), headers=key("o"))
    assert during.status_code == 503
    assert during.headers["content-type"].startswith("application/problem+json")
    assert during.json()["type"].endswith("/outage")
    assert (await client.get("/health/ready")).status_code == 200  # admin and health unaffected

    seen, final = await authorize_until_ok(client, payment(), "o")
    assert final.status_code == 201  # nothing was recorded during the outage
    assert seen[0] == 503
    assert await count_for(client, "pay_1") == 1
    assert (await client.get("/admin/stats")).json()["outcomes"]["outage"] >= 2
    assert (await client.get("/admin/outages")).json() == []


async def test_scheduled_outage_starts_later_and_can_be_cancelled(
    client: httpx.AsyncClient, payment: Body
) -> None:
    await client.post("/admin/outages", json={"start_in_s": 3600, "duration_s": 60})
    before = await client.post("/v1/authorizations", json=payment(), headers=key("s1"))
    assert before.status_code == 201
    [scheduled] = (await client.get("/admin/outages")).json()
    assert scheduled["active"] is False

    await client.post("/admin/outages", json={"duration_s": 3600})
    assert (await client.get("/v1/authorizations")).status_code == 503
    assert (await client.delete("/admin/outages")).status_code == 204
    assert (await client.get("/v1/authorizations")).status_code == 200


async def test_hang_mode_holds_the_call_then_answers_503(
    client_for: ClientFactory, payment: Body
) -> None:
    async with client_for(ProviderConfig(outage_mode="hang", hang_timeout_s=0.3)) as client:
        await client.post("/admin/outages", json={"duration_s": 3600})
        started = time.monotonic()
        response = await client.post("/v1/authorizations", json=payment(), headers=key("h"))
        assert time.monotonic() - started >= 0.25
        assert response.status_code == 503
        await client.delete("/admin/outages")
        assert await count_for(client, "pay_1") == 0


async def test_configured_latency_is_honoured(client_for: ClientFactory, payment: Body) -> None:
    async with client_for(ProviderConfig(latency_ms=200)) as client:
        started = time.monotonic()
        response = await client.post("/v1/authorizations", json=payment(), headers=key("l"))
        assert response.status_code == 201
        assert time.monotonic() - started >= 0.18
        await client.put("/admin/behaviour", json={"latency_ms": 150, "jitter_ms": 0})
        started = time.monotonic()
        await client.get("/v1/authorizations")
        assert time.monotonic() - started >= 0.13


async def test_same_seed_fails_the_same_calls(client_for: ClientFactory, payment: Body) -> None:
    async def statuses(seed: int) -> list[int]:
        config = ProviderConfig(error_rate=0.5, latency_ms=1, latency_jitter_ms=1, seed=seed)
        async with client_for(config) as client:
            return [
                (
                    await client.post(
                        "/v1/authorizations", json=payment(reference=f"r{i}"), headers=key(f"{i}")
                    )
                ).status_code
                for i in range(30)
            ]

    first, second = await statuses(42), await statuses(42)
    assert first == second
    assert {201, 503} == set(first)


async def test_admin_behaviour_round_trips_and_rejects_bad_rates(client: httpx.AsyncClient) -> None:
    wanted = {"latency_ms": 1.0, "jitter_ms": 2.0, "error_rate": 0.25, "error_after_commit_rate": 0}
    assert (await client.put("/admin/behaviour", json=wanted)).status_code == 200
    assert (await client.get("/admin/behaviour")).json() == {
        **wanted,
        "error_after_commit_rate": 0.0,
    }
    bad = await client.put("/admin/behaviour", json={"error_rate": 1.5})
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")


async def test_reset_forgets_everything(client: httpx.AsyncClient, payment: Body) -> None:
    await client.post("/v1/authorizations", json=payment(), headers=key("r"))
    await client.post("/admin/outages", json={"duration_s": 3600})
    assert (await client.post("/admin/reset")).status_code == 204
    stats = (await client.get("/admin/stats")).json()
    assert stats["authorizations"] == 0
    assert sum(stats["outcomes"].values()) == 0
    assert (await client.get("/v1/authorizations")).json()["count"] == 0
